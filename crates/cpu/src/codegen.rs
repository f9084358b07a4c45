//! Kernel IR → Cranelift IR → machine code: one function per kernel,
//! `extern "C" fn(ptrs: *const *mut u8, start: u64, end: u64)`, where `ptrs` holds the
//! input base pointers (in `Kernel::inputs` order) then one pointer per output, and
//! `start..end` is a range of work items.
//!
//! - Store kernels: work items are iteration points (flat row-major index); output
//!   `o` gets its node's value at `ptrs[n_in + o][i]`. The loop nest walks rows (every
//!   axis but the last: the row's multi-index from the flat index once per row) and an
//!   inner loop over the last axis, `w` elements at a time in vector mode with a
//!   scalar tail.
//! - Reduce kernels: the leading axes index results, the trailing ones the reduced
//!   space of `K` elements; work item `r * nblocks + b` (`nblocks = max(1, ⌈K /
//!   BLOCK⌉)`) is the canonical partial of block `b` of result `r`: 8 lanes, element
//!   `j` of the block into lane `j % 8`, each lane folding in order from the identity,
//!   lanes combined `((0+1)+(2+3))+((4+5)+(6+7))`. With lanes fixed by position
//!   (groups of 8 elements), vector mode keeps lanes `(0,1)`, `(2,3)`, … (or
//!   `(0..4)`, `(4..8)`) in vector accumulators, which is exactly the canonical order.
//!   [`crate::exec::finish_reduce`] combines the blocks. When the reduced axis is
//!   strided but neighbouring results are contiguous (a column sum), groups of
//!   results are computed together instead, vectorised across results, each still
//!   folding its own elements in the canonical order.
//!
//! Before generating code the iteration space is normalized: size-1 axes are dropped
//! and adjacent axes that every input walks contiguously (and no `Index` node reads)
//! are merged, so a transposed-but-contiguous or fully contiguous kernel becomes one
//! long row. Nodes that do not depend on the innermost axis are computed once per row
//! (and splatted in vector mode). On long rows, vector loops also set up per row what
//! Cranelift would otherwise recompute every step: the splats they read, pinned before
//! the loop ([`Gen::pin`]), and each conversion of the inner index to a float, carried
//! from step to step as a float vector moved on by exact adds ([`Ramps`]).
//!
//! Random bits: a kernel with 64-bit values runs 2 lanes, but the Threefry cipher is
//! 32-bit arithmetic, so such a kernel that draws random bits evaluates two vector
//! steps at once ([`Cx::eval_pair`]): its 32-bit part (counters, cipher) over 4 lanes,
//! the rest per 2-lane half. The two words of one cipher are computed once, and a
//! key that does not change along the row has its schedule built once per row.
//! In a store kernel or a reduction over one axis with rows of at least `RUN_MIN`
//! elements, on a host with AVX2 or AVX-512, a cipher with an invariant key whose
//! counter words step by 0 or 1 along the row (`uniform`'s) is not computed inline:
//! [`crate::cipher`] fills its words for a reduction's block (a store kernel's row
//! pass, of at most `RUN` elements) before its loop, 8 or 16 lanes at a time, and the
//! loop loads them.

mod libcall;
mod ops;

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{F64, I32, I64};
use cranelift_codegen::ir::{
    AbiParam, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, UserFuncName, Value,
};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_module::{FuncId, Linkage, Module};
use nabla_ir::canonical::{BLOCK, LANES};
use nabla_ir::{infer, BinaryOp, DType, Prim, ReduceOp, Scalar, Type};

use crate::cipher;
use crate::error::{CpuError, Result};
use crate::fold;
use crate::jit::{Footprint, JitKernel, JitSession};
use crate::kernel::{Kernel, Node, Output};
use crate::math;
pub(crate) use ops::{identity, reduce_binop};
use ops::{scalar_ty, size, CipherKey, Gen};

/// How transcendental functions (`exp`, `sin`, `pow`, …) are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Math {
    /// Inline polynomial kernels from [`crate::math`] (vectorised; within
    /// [`crate::math::max_ulp`] of the exact result), falling back to libm per lane
    /// where the math module has none.
    Inline,
    /// A call per element to the `libm` function the interpreter uses: bitwise the
    /// interpreter's results, at the price of a call per element.
    Libm,
}

/// Code generation choices. Every other operation is exact whatever the options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Options {
    /// Use 128-bit vector loops where the kernel allows them.
    pub simd: bool,
    pub math: Math,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            simd: true,
            math: Math::Inline,
        }
    }
}

/// A kernel compiled to machine code.
#[derive(Debug)]
pub struct CompiledKernel {
    kernel: Kernel,
    jit: JitKernel,
    lanes: usize,
    reduce: Option<ReduceShape>,
    folds: bool,
}

/// The work decomposition of a reduce kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReduceShape {
    /// Results per output (the product of the leading axes).
    pub results: usize,
    /// Elements reduced into each result.
    pub k: usize,
    /// Blocks per result: `max(1, ⌈k / BLOCK⌉)`.
    pub nblocks: usize,
}

impl CompiledKernel {
    /// The kernel this was compiled from.
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    /// Elements per inner-loop step: 1 for scalar code, 2 or 4 for vector loops.
    pub fn lanes(&self) -> usize {
        self.lanes
    }

    /// Whether its sums of whole rows call the host's wide-vector folds
    /// ([`crate::fold::fold4_sums_f64`]) rather than running its own loop.
    pub fn folds_rows(&self) -> bool {
        self.folds
    }

    /// The work decomposition for reduce kernels (`None` for store kernels).
    pub fn reduce_shape(&self) -> Option<ReduceShape> {
        self.reduce
    }

    /// Work items: iteration points, or (result, block) pairs for reduce kernels.
    pub fn work_items(&self) -> usize {
        self.jit.footprint().items
    }

    pub(crate) fn jit(&self) -> &JitKernel {
        &self.jit
    }
}

/// Compiles a kernel with the default [`Options`].
pub fn compile(kernel: &Kernel) -> Result<CompiledKernel> {
    compile_with(kernel, &Options::default())
}

pub fn compile_with(kernel: &Kernel, options: &Options) -> Result<CompiledKernel> {
    check(kernel)?;
    let footprint = Footprint::of(kernel)?;
    let plan = Plan::new(kernel)?;
    let (lanes, across) = if options.simd {
        (plan.vector_lanes(kernel), plan.across_results(kernel))
    } else {
        (1, None)
    };
    let widest = lanes.max(across.as_ref().map_or(1, |a| a.1));
    let jit = match build(
        kernel,
        &plan,
        lanes,
        across.as_ref(),
        options.math,
        footprint.clone(),
    ) {
        Ok(jit) => (jit, widest),
        // A host whose Cranelift backend lacks some vector instruction still gets
        // (scalar) code; the tests pin down where vector code is expected.
        Err(_) if widest > 1 => (build(kernel, &plan, 1, None, options.math, footprint)?, 1),
        Err(e) => return Err(e),
    };
    let ((jit, folds), lanes) = jit;
    let reduce = plan.reduce.map(|r| ReduceShape {
        results: r.results,
        k: r.k,
        nblocks: r.nblocks,
    });
    Ok(CompiledKernel {
        kernel: kernel.clone(),
        jit,
        lanes,
        reduce,
        folds,
    })
}

// ---- validation ---------------------------------------------------------------------

fn bad(message: String) -> CpuError {
    CpuError::internal(format!("malformed kernel: {message}"))
}

/// Checks the kernel against the IR's typing rules (`nabla_ir::infer` on the scalar
/// operation of each node), so code generation may rely on them.
fn check(kernel: &Kernel) -> Result<()> {
    let rank = kernel.shape.len();
    if kernel.dtypes.len() != kernel.nodes.len() {
        return Err(bad(format!(
            "{} dtypes for {} nodes",
            kernel.dtypes.len(),
            kernel.nodes.len()
        )));
    }
    for (i, input) in kernel.inputs.iter().enumerate() {
        if input.strides.len() != rank {
            return Err(bad(format!(
                "input {i} has {} strides",
                input.strides.len()
            )));
        }
    }
    let scalar = |n: usize, at: usize| -> Result<Type> {
        if n >= at {
            return Err(bad(format!("node {at} reads node {n}, not an earlier one")));
        }
        Ok(Type::scalar(kernel.dtypes[n]))
    };
    for (at, node) in kernel.nodes.iter().enumerate() {
        let infer1 = |prim: Prim, args: &[usize]| -> Result<Vec<DType>> {
            let types = args
                .iter()
                .map(|&n| scalar(n, at))
                .collect::<Result<Vec<_>>>()?;
            let outs = infer(&prim, &types).map_err(|e| bad(format!("node {at}: {e}")))?;
            Ok(outs.into_iter().map(|t| t.dtype).collect())
        };
        let want = match node {
            Node::Load(i) => {
                kernel
                    .inputs
                    .get(*i)
                    .ok_or_else(|| bad(format!("node {at} loads missing input {i}")))?
                    .dtype
            }
            Node::Lit(s) => s.dtype(),
            Node::Index(axis) => {
                if *axis >= rank {
                    return Err(bad(format!("node {at} indexes axis {axis} of rank {rank}")));
                }
                DType::I64
            }
            Node::IndexU32(axis) => {
                if *axis >= rank {
                    return Err(bad(format!("node {at} indexes axis {axis} of rank {rank}")));
                }
                DType::U32
            }
            Node::Unary(op, x) => infer1(Prim::Unary(*op), &[*x])?[0],
            Node::Binary(op, x, y) => infer1(Prim::Binary(*op), &[*x, *y])?[0],
            Node::Compare(op, x, y) => infer1(Prim::Compare(*op), &[*x, *y])?[0],
            Node::Select(p, t, f) => infer1(Prim::Select, &[*p, *t, *f])?[0],
            Node::IntPow(exponent, x) => infer1(
                Prim::IntPow {
                    exponent: *exponent,
                },
                &[*x],
            )?[0],
            Node::Convert(dtype, x) => infer1(Prim::Convert { dtype: *dtype }, &[*x])?[0],
            Node::Threefry { which, args } => {
                let outs = infer1(Prim::Threefry2x32, args)?;
                *outs
                    .get(*which)
                    .ok_or_else(|| bad(format!("node {at} takes threefry result {which}")))?
            }
            Node::BitsToUnit(dtype, args) => infer1(Prim::BitsToUnit { dtype: *dtype }, args)?[0],
        };
        if want != kernel.dtypes[at] {
            return Err(bad(format!(
                "node {at} is {want} but declared {}",
                kernel.dtypes[at]
            )));
        }
    }
    if kernel.outputs.is_empty() {
        return Err(bad("no outputs".into()));
    }
    for out in &kernel.outputs {
        let node = match *out {
            Output::Store { node } => node,
            Output::Reduce { node, op, nreduce } => {
                if nreduce > rank {
                    return Err(bad(format!("a reduction over {nreduce} of {rank} axes")));
                }
                let d = *kernel
                    .dtypes
                    .get(node)
                    .ok_or_else(|| bad(format!("a reduction of missing node {node}")))?;
                let ok = match op {
                    ReduceOp::And | ReduceOp::Or => d == DType::Bool,
                    ReduceOp::Sum | ReduceOp::Prod => d != DType::Bool,
                    ReduceOp::Max | ReduceOp::Min => true,
                };
                if !ok {
                    return Err(bad(format!("{} of {d} values", op.name())));
                }
                node
            }
        };
        if node >= kernel.nodes.len() {
            return Err(bad(format!("an output of missing node {node}")));
        }
    }
    Ok(())
}

// ---- the normalized loop nest -------------------------------------------------------

/// The iteration space after dropping size-1 axes and merging contiguous ones.
#[derive(Clone, Debug)]
struct Plan {
    /// Normalized extents (at least one axis; the last is the inner loop).
    dims: Vec<usize>,
    /// For reduce kernels, how many leading axes index results.
    nres: usize,
    /// Per input, per normalized axis, in elements.
    strides: Vec<Vec<i64>>,
    offsets: Vec<i64>,
    /// Per original axis read by an `Index` node: its normalized axis (`None`: the
    /// axis has size 1, so the index is 0).
    axis_of: Vec<Option<usize>>,
    reduce: Option<ReducePlan>,
}

#[derive(Clone, Copy, Debug)]
struct ReducePlan {
    results: usize,
    k: usize,
    nblocks: usize,
}

/// One normalized axis while building a plan.
struct Axis {
    dim: usize,
    strides: Vec<i64>,
    indexed: bool,
    orig: usize,
}

impl Plan {
    fn new(kernel: &Kernel) -> Result<Plan> {
        let rank = kernel.shape.len();
        let nreduce = match kernel.outputs.first() {
            Some(Output::Reduce { nreduce, .. }) => Some(*nreduce),
            _ => None,
        };
        let mut indexed = vec![false; rank];
        for node in &kernel.nodes {
            if let Node::Index(a) | Node::IndexU32(a) = node {
                indexed[*a] = true;
            }
        }
        let to_i64 = |v: isize| i64::try_from(v).map_err(|_| bad("a stride beyond i64".into()));
        let axis = |a: usize| -> Result<Axis> {
            Ok(Axis {
                dim: kernel.shape[a],
                strides: kernel
                    .inputs
                    .iter()
                    .map(|i| to_i64(i.strides[a]))
                    .collect::<Result<_>>()?,
                indexed: indexed[a],
                orig: a,
            })
        };
        let split = rank - nreduce.unwrap_or(0);
        let mut groups = Vec::new();
        for range in [0..split, split..rank] {
            let mut merged: Vec<Axis> = Vec::new();
            for a in range {
                let next = axis(a)?;
                if next.dim == 1 {
                    continue;
                }
                if let Some(last) = merged.last_mut() {
                    let contiguous = last
                        .strides
                        .iter()
                        .zip(&next.strides)
                        .all(|(&outer, &inner)| Some(outer) == inner.checked_mul(next.dim as i64));
                    if contiguous && !last.indexed && !next.indexed {
                        last.dim *= next.dim;
                        last.strides = next.strides;
                        continue;
                    }
                }
                merged.push(next);
            }
            groups.push(merged);
        }
        let reduced = groups.pop().unwrap_or_default();
        let mut result = groups.pop().unwrap_or_default();
        let unit = || Axis {
            dim: 1,
            strides: vec![0; kernel.inputs.len()],
            indexed: false,
            orig: usize::MAX,
        };
        let (mut axes, nres, reduce) = match nreduce {
            None => {
                // Store kernels have one group; it is `result` here.
                let mut all = result;
                all.extend(reduced);
                if all.is_empty() {
                    all.push(unit());
                }
                (all, 0, None)
            }
            Some(_) => {
                let results: usize = result.iter().map(|a| a.dim).product();
                let k: usize = reduced.iter().map(|a| a.dim).product();
                let nres = result.len();
                result.extend(reduced);
                if result.len() == nres {
                    result.push(unit());
                }
                let nblocks = k.div_ceil(BLOCK).max(1);
                (
                    result,
                    nres,
                    Some(ReducePlan {
                        results,
                        k,
                        nblocks,
                    }),
                )
            }
        };
        let mut axis_of = vec![None; rank];
        for (n, a) in axes.iter().enumerate() {
            if a.orig < rank {
                axis_of[a.orig] = Some(n);
            }
        }
        let strides = (0..kernel.inputs.len())
            .map(|i| axes.iter().map(|a| a.strides[i]).collect())
            .collect();
        let offsets = kernel
            .inputs
            .iter()
            .map(|i| to_i64(i.offset))
            .collect::<Result<_>>()?;
        let dims = axes.iter_mut().map(|a| a.dim).collect();
        Ok(Plan {
            dims,
            nres,
            strides,
            offsets,
            axis_of,
            reduce,
        })
    }

    fn inner(&self) -> usize {
        self.dims.len() - 1
    }

    /// 2 lanes with any 64-bit dtype, else 4.
    fn vector_width(&self, kernel: &Kernel) -> usize {
        let wide = kernel
            .dtypes
            .iter()
            .chain(kernel.inputs.iter().map(|i| &i.dtype))
            .any(|d| matches!(d, DType::I64 | DType::F64));
        if wide {
            2
        } else {
            4
        }
    }

    /// Vector lanes for this kernel: 2 with any 64-bit dtype, else 4; 1 where the inner
    /// loop is too short or reductions cannot keep lanes fixed by position.
    fn vector_lanes(&self, kernel: &Kernel) -> usize {
        let w = self.vector_width(kernel);
        let inner = self.dims[self.inner()];
        match self.reduce {
            None if inner >= w => w,
            None => 1,
            Some(r) if self.static_lanes() && r.k >= LANES => w,
            Some(_) => 1,
        }
    }

    /// For a reduction whose reduced row is strided while the innermost result axis is
    /// contiguous (a column sum, say), the same nest with that result axis innermost
    /// and the reduced axis just outside it, and the lane count: vector loads then
    /// cover neighbouring results instead of gathering one result's elements. Each
    /// result still folds its own elements in the canonical order.
    fn across_results(&self, kernel: &Kernel) -> Option<(Plan, usize)> {
        let r = self.reduce?;
        // One reduced row and one block per result keep work items (results) adjacent.
        if self.nres == 0 || self.dims.len() != self.nres + 1 || r.nblocks != 1 || r.k == 0 {
            return None;
        }
        let red = self.inner();
        let res = self.nres - 1;
        let unit = |s: i64| s == 1 || s == -1;
        let gathers = self
            .strides
            .iter()
            .any(|s| s[red] != 0 && !unit(s[red]) && s[res] == 1);
        let contiguous = self.strides.iter().all(|s| s[res] == 0 || s[res] == 1);
        let w = self.vector_width(kernel);
        if !gathers || !contiguous || self.dims[res] < w {
            return None;
        }
        let mut order: Vec<usize> = (0..res).collect();
        order.extend([red, res]);
        let mut at = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            at[old] = new;
        }
        let plan = Plan {
            dims: order.iter().map(|&a| self.dims[a]).collect(),
            nres: self.nres,
            strides: self
                .strides
                .iter()
                .map(|s| order.iter().map(|&a| s[a]).collect())
                .collect(),
            offsets: self.offsets.clone(),
            axis_of: self.axis_of.iter().map(|a| a.map(|a| at[a])).collect(),
            reduce: self.reduce,
        };
        Some((plan, w))
    }

    /// Whether every row segment of a reduction starts at lane 0 and (but for the very
    /// end of the reduced space) spans whole groups of 8, so lanes are fixed by the
    /// position inside a group.
    fn static_lanes(&self) -> bool {
        self.dims.len() - self.nres == 1 || self.dims[self.inner()].is_multiple_of(LANES)
    }
}

// ---- function construction ----------------------------------------------------------

/// Per-function values and the kernel facts code generation consults per node.
struct Cx<'k> {
    kernel: &'k Kernel,
    plan: &'k Plan,
    /// Input base pointers then output base pointers (entry-block values).
    bases: Vec<Value>,
    outs: Vec<Value>,
    /// Per node: whether its value changes along the innermost axis.
    varying: Vec<bool>,
    /// Per node: whether an output needs it.
    live: Vec<bool>,
    /// Per node, when vector steps run in pairs ([`Cx::pair_steps`]): whether it is
    /// computed once over 4 lanes for both steps. Empty otherwise.
    narrow: Vec<bool>,
    /// The keys of the varying ciphers computed inline whose key words are invariant:
    /// their schedules are built once per row (see `CipherKey::Schedule`).
    keys: Vec<KeyPair>,
    /// The operands of the ciphers whose words come from runs ([`CipherRuns`]).
    runs: Vec<[usize; 4]>,
    /// Per node: for a conversion of the inner index to a float dtype that holds
    /// every index of the axis exactly, that dtype. Vector loops carry such a node
    /// from step to step ([`Ramps`]) instead of converting the index at every step.
    ramp: Vec<Option<DType>>,
    /// Per node: whether vector steps that take the ramps from [`Ramps`] need it
    /// (live, and not only as the operand of ramps).
    vec_live: Vec<bool>,
    /// Per invariant node: whether vector code reads its splat (a varying node or an
    /// output does), which is what the row pins.
    splat_used: Vec<bool>,
    /// A sum over one axis whose term the host's wide vectors fold ([`fold_plan`]).
    fold: Option<FoldPlan>,
}

/// An f64 sum over the inner axis (the only one reduced) of `x`, `x²`, `c·x` or
/// `(c·x)²` per element: `x` a row of input `input` with unit stride, `c` an invariant
/// node. Rows that fit a block are folded [`crate::fold::ROWS`] at a time in AVX-512
/// ([`crate::fold::fold4_sums_f64`]) instead of one by one in the kernel's 128-bit loop,
/// whose sum of a short row waits on its adds' latency; the lanes are bitwise the
/// loop's.
#[derive(Clone, Copy, Debug)]
struct FoldPlan {
    term: fold::Term,
    input: usize,
    scale: Option<usize>,
}

/// The shortest rows whose sums are folded: a fold costs a call per group of rows.
const FOLD_MIN: usize = 32;

/// The [`FoldPlan`] of a kernel, if it is one (see there).
fn fold_plan(kernel: &Kernel, plan: &Plan, varying: &[bool]) -> Option<FoldPlan> {
    let one_axis = plan.reduce.is_some() && plan.dims.len() == plan.nres + 1;
    let inner = plan.inner();
    if !one_axis || !plan.static_lanes() || plan.dims.get(inner).is_none_or(|&n| n < FOLD_MIN) {
        return None;
    }
    let [Output::Reduce {
        node,
        op: ReduceOp::Sum,
        ..
    }] = kernel.outputs.as_slice()
    else {
        return None;
    };
    let dtype = DType::F64;
    if kernel.dtypes.get(*node) != Some(&dtype) {
        return None;
    }
    let nodes = &kernel.nodes;
    let (base, squared) = match nodes.get(*node)? {
        Node::IntPow(2, t) => (*t, true),
        Node::Binary(BinaryOp::Mul, a, b) if a == b => (*a, true),
        _ => (*node, false),
    };
    // Adding zero changes at most the sign of a zero, which squaring drops (the
    // lowering writes an even power of `x` as one of `x + 0`).
    let base = match nodes.get(base)? {
        Node::Binary(BinaryOp::Add, u, z) if squared && is_zero_lit(nodes.get(*z)?) => *u,
        Node::Binary(BinaryOp::Add, z, u) if squared && is_zero_lit(nodes.get(*z)?) => *u,
        _ => base,
    };
    let row = |n: usize| match nodes.get(n) {
        Some(Node::Load(i)) => (kernel.inputs.get(*i)?.dtype == dtype
            && plan.strides.get(*i)?.get(inner) == Some(&1))
        .then_some(*i),
        _ => None,
    };
    let invariant =
        |n: usize| !varying.get(n).copied().unwrap_or(true) && kernel.dtypes.get(n) == Some(&dtype);
    let (input, scale) = match nodes.get(base)? {
        Node::Binary(BinaryOp::Mul, a, b) => match (row(*a), row(*b)) {
            (Some(i), _) if invariant(*b) => (i, Some(*b)),
            (_, Some(i)) if invariant(*a) => (i, Some(*a)),
            _ => return None,
        },
        _ => (row(base)?, None),
    };
    let term = match (scale.is_some(), squared) {
        (false, false) => fold::Term::Plain,
        (false, true) => fold::Term::Square,
        (true, false) => fold::Term::Scaled,
        (true, true) => fold::Term::ScaledSquare,
    };
    Some(FoldPlan { term, input, scale })
}

/// The Threefry words computed so far for one set of lanes, by operands.
type Ciphers = HashMap<[usize; 4], [Value; 2]>;

/// Whether a node is a float literal other than NaN and ±0 (see
/// `Gen::float_max_min_by_constant`).
fn ordinary_float_lit(node: &Node) -> bool {
    match node {
        Node::Lit(Scalar::F32(v)) => !v.is_nan() && *v != 0.0,
        Node::Lit(Scalar::F64(v)) => !v.is_nan() && *v != 0.0,
        Node::Lit(_)
        | Node::Load(_)
        | Node::Index(_)
        | Node::IndexU32(_)
        | Node::Unary(..)
        | Node::Binary(..)
        | Node::Compare(..)
        | Node::Select(..)
        | Node::IntPow(..)
        | Node::Convert(..)
        | Node::Threefry { .. }
        | Node::BitsToUnit(..) => false,
    }
}

/// Whether a node is a literal zero (a cipher's zero counter word adds nothing).
fn is_zero_lit(node: &Node) -> bool {
    matches!(node, Node::Lit(s) if s.as_f64() == 0.0)
}

/// The ramp dtype (see `Cx::ramp`) of `Convert(to, x)`: `to` when `x` is the index
/// along the inner axis (or that index as a u32, which is the same number while the
/// axis is below 2^32) and `to` is a float dtype holding every integer up to the
/// axis's extent exactly. Then converting `j` and adding whole numbers to it is exact,
/// so the carried lanes are bitwise the converted indices.
fn ramp_dtype(kernel: &Kernel, plan: &Plan, to: DType, x: usize) -> Option<DType> {
    let (axis, below) = match kernel.nodes.get(x)? {
        Node::Index(a) => (*a, u64::MAX),
        Node::IndexU32(a) => (*a, 1 << 32),
        Node::Load(_)
        | Node::Lit(_)
        | Node::Unary(..)
        | Node::Binary(..)
        | Node::Compare(..)
        | Node::Select(..)
        | Node::IntPow(..)
        | Node::Convert(..)
        | Node::Threefry { .. }
        | Node::BitsToUnit(..) => return None,
    };
    if plan.axis_of.get(axis).copied().flatten() != Some(plan.inner()) {
        return None;
    }
    let exact: u64 = match to {
        DType::F64 => 1 << f64::MANTISSA_DIGITS,
        DType::F32 => 1 << f32::MANTISSA_DIGITS,
        DType::Bool | DType::I32 | DType::U32 | DType::I64 => return None,
    };
    let extent = u64::try_from(*kernel.shape.get(axis)?).ok()?;
    (extent <= exact.min(below)).then_some(to)
}

/// The dtypes whose vectors hold 4 lanes in any mode (bools are masks as wide as the
/// kernel's lanes, so they are not among them).
fn is_32(d: DType) -> bool {
    match d {
        DType::I32 | DType::U32 | DType::F32 => true,
        DType::Bool | DType::I64 | DType::F64 => false,
    }
}

/// Row state: everything fixed while the innermost index moves.
struct Row {
    /// Per input: the address of the row's element at inner index 0.
    ptrs: Vec<Value>,
    /// Per normalized axis except the inner one: its index (i64).
    idx: Vec<Value>,
    /// Per node: the scalar value of an invariant live node.
    inv: Vec<Option<Value>>,
    /// Per node: the same, splatted (vector mode).
    inv_vec: Vec<Option<Value>>,
    /// In vector mode, the key schedule of each of [`Cx::keys`].
    schedules: Vec<(KeyPair, [Value; ops::SCHEDULE_ENTRIES])>,
    /// The runs of cipher words filled for this row's range, if any.
    runs: Option<CipherRuns>,
}

/// The cipher words of [`Cx::runs`] for one stretch of a row (at most `RUN` inner
/// indices: a reduction's block, or a store kernel's pass), filled by
/// [`crate::cipher`] before the stretch's loops: run `r`'s word `w` for inner index
/// `j` is the u32 at `origin + j·4 + (2r + w)·RUN·4`. Only store kernels and
/// reductions over one axis take them: their loops never leave the stretch.
struct CipherRuns {
    origin: Value,
}

/// The key word nodes `(k0, k1)` of a cipher.
type KeyPair = [usize; 2];

impl Row {
    /// Where a vector cipher with key nodes `key` finds its key: the row's schedule
    /// when the key is invariant, else the `words` of this step.
    fn cipher_key(
        &self,
        key: KeyPair,
        words: impl FnOnce() -> Result<[Value; 2]>,
    ) -> Result<CipherKey> {
        match self.schedules.iter().find(|(k, _)| *k == key) {
            Some(&(_, entries)) => Ok(CipherKey::Schedule(entries)),
            None => Ok(CipherKey::Words(words()?)),
        }
    }
}

/// The ramps (see `Cx::ramp`) of one vector loop: per ramp node a variable holding
/// its lanes at the loop's position, moved on by adding whole numbers, which is exact
/// there: a step costs one add instead of building the index vector and converting
/// it. Every lane of the vector is carried (4 for f32 in 2-lane mode too), so the
/// lanes beyond the mode's hold numbers as well, never garbage.
struct Ramps {
    /// (node, dtype, variable).
    vars: Vec<(usize, DType, Variable)>,
    /// (node, offset, variable): a ramp's lanes `offset` elements past the loop's
    /// position, carried in a variable of its own where few enough are (see
    /// [`SPREAD_RAMPS`]), each moved on by the same adds as the ramp.
    spread: Vec<(usize, usize, Variable)>,
    /// (dtype, elements, that count splatted as a float of the dtype), pinned: the
    /// loop adds them every step.
    steps: Vec<(DType, usize, Value)>,
    /// Per dtype, 1 splatted and pinned where adds are fused multiply-adds.
    ones: Vec<(DType, Value)>,
    nodes: usize,
}

impl Ramps {
    /// The ramps of a vector loop over a row, from inner index `j`, that reads them
    /// and moves on by multiples of `lanes` up to `most` elements; none (every read
    /// empty) where [`Cx::carries_ramps`] says no.
    fn start(g: &mut Gen, cx: &Cx, j: Value, lanes: usize, most: usize) -> Result<Ramps> {
        let mut ramps = Ramps {
            vars: Vec::new(),
            spread: Vec::new(),
            steps: Vec::new(),
            ones: Vec::new(),
            nodes: cx.kernel.nodes.len(),
        };
        if !cx.carries_ramps(lanes) {
            return Ok(ramps);
        }
        g.w = lanes;
        let fused = math::Features::host().fma;
        let mut steps = Vec::new();
        let mut ones = Vec::new();
        for (n, ramp) in cx.ramp.iter().enumerate() {
            let Some(d) = *ramp else { continue };
            let first = g.float_ramp(d, j)?;
            let ty = g.ty(d);
            let var = g.b.declare_var(ty);
            g.b.def_var(var, first);
            ramps.vars.push((n, d, var));
            if steps.iter().any(|&(e, _, _)| e == d) {
                continue;
            }
            for by in (lanes..=most).step_by(lanes) {
                let v = g.lit(Scalar::F64(by as f64).cast(d));
                steps.push((d, by, v));
            }
            if fused {
                ones.push((d, g.lit(Scalar::F64(1.0).cast(d))));
            }
        }
        let values: Vec<Value> = steps
            .iter()
            .map(|&(_, _, v)| v)
            .chain(ones.iter().map(|&(_, v)| v))
            .collect();
        let pinned = g.pin(&values);
        let (step_values, one_values) = pinned.split_at(steps.len());
        ramps.steps = steps
            .iter()
            .zip(step_values)
            .map(|(&(d, by, _), &v)| (d, by, v))
            .collect();
        ramps.ones = ones
            .iter()
            .zip(one_values)
            .map(|(&(d, _), &v)| (d, v))
            .collect();
        let offsets = most / lanes - 1;
        if ramps.vars.len() * offsets <= SPREAD_RAMPS {
            for i in 0..ramps.vars.len() {
                let (n, d, var) = ramps.vars[i];
                let first = g.b.use_var(var);
                for off in (lanes..most).step_by(lanes) {
                    let step = ramps.step(d, off)?;
                    let at = ramps.add(g, d, first, step);
                    let v = g.b.declare_var(g.ty(d));
                    g.b.def_var(v, at);
                    ramps.spread.push((n, off, v));
                }
            }
        }
        g.w = 1;
        Ok(ramps)
    }

    /// `v + step`. Ramp lanes are whole numbers, so `v · 1 + step` is exact and a
    /// fused multiply-add gives bitwise the same sum. It issues on the multiply
    /// ports, which add-heavy element code (a sum of squares) leaves room on, where
    /// recent x86 cores (Intel's since Golden Cove, AMD's Zen) issue adds on others.
    fn add(&self, g: &mut Gen, d: DType, v: Value, step: Value) -> Value {
        match self.ones.iter().find(|&&(e, _)| e == d) {
            Some(&(_, one)) => g.b.ins().fma(v, one, step),
            None => g.b.ins().fadd(v, step),
        }
    }

    /// Per node, the ramp's lanes `off` elements past the loop's position (`None`
    /// for other nodes); empty without ramps.
    fn at(&self, g: &mut Gen, off: usize) -> Result<Vec<Option<Value>>> {
        if self.vars.is_empty() {
            return Ok(Vec::new());
        }
        let mut vals = vec![None; self.nodes];
        for &(n, d, var) in &self.vars {
            let spread = self.spread.iter().find(|&&(m, o, _)| m == n && o == off);
            vals[n] = Some(match spread {
                _ if off == 0 => g.b.use_var(var),
                Some(&(_, _, own)) => g.b.use_var(own),
                None => {
                    let v = g.b.use_var(var);
                    let step = self.step(d, off)?;
                    self.add(g, d, v, step)
                }
            });
        }
        Ok(vals)
    }

    /// Moves the loop's position `by` elements on.
    fn advance(&self, g: &mut Gen, by: usize) -> Result<()> {
        for &(n, d, var) in &self.vars {
            let own = self.spread.iter().filter(|&&(m, _, _)| m == n);
            for var in std::iter::once(var).chain(own.map(|&(_, _, v)| v)) {
                let v = g.b.use_var(var);
                let step = self.step(d, by)?;
                let next = self.add(g, d, v, step);
                g.b.def_var(var, next);
            }
        }
        Ok(())
    }

    fn step(&self, d: DType, by: usize) -> Result<Value> {
        self.steps
            .iter()
            .find(|&&(e, b, _)| e == d && b == by)
            .map(|&(_, _, v)| v)
            .ok_or_else(|| CpuError::internal(format!("no ramp step of {by} for {d}")))
    }
}

fn operands(node: &Node) -> Vec<usize> {
    match node {
        Node::Load(_) | Node::Lit(_) | Node::Index(_) | Node::IndexU32(_) => Vec::new(),
        Node::Unary(_, x) | Node::IntPow(_, x) | Node::Convert(_, x) => vec![*x],
        Node::Binary(_, x, y) | Node::Compare(_, x, y) => vec![*x, *y],
        Node::Select(p, t, f) => vec![*p, *t, *f],
        Node::Threefry { args, .. } => args.to_vec(),
        Node::BitsToUnit(_, args) => args.clone(),
    }
}

fn output_node(out: &Output) -> usize {
    match *out {
        Output::Store { node } | Output::Reduce { node, .. } => node,
    }
}

/// How a cipher's counter word moves along the inner axis: by 0 (invariant) or 1
/// (the inner index as a u32, plus invariants), modulo 2^32. `None` for anything else.
fn counter_step(kernel: &Kernel, plan: &Plan, varying: &[bool], m: usize) -> Option<u32> {
    if !varying[m] {
        return Some(0);
    }
    match &kernel.nodes[m] {
        Node::IndexU32(a) => {
            (plan.axis_of.get(*a).copied().flatten() == Some(plan.inner())).then_some(1)
        }
        Node::Binary(BinaryOp::Add, x, y) if kernel.dtypes[m] == DType::U32 => {
            let step =
                counter_step(kernel, plan, varying, *x)? + counter_step(kernel, plan, varying, *y)?;
            (step <= 1).then_some(step)
        }
        Node::Binary(..)
        | Node::Load(_)
        | Node::Lit(_)
        | Node::Index(_)
        | Node::Unary(..)
        | Node::Compare(..)
        | Node::Select(..)
        | Node::IntPow(..)
        | Node::Convert(..)
        | Node::Threefry { .. }
        | Node::BitsToUnit(..) => None,
    }
}

/// The shortest rows whose ciphers come from runs: a run costs a call and the
/// cipher's scalar tail.
const RUN_MIN: usize = 64;

/// The most ciphers of one kernel that take their words from runs (each run's buffer
/// is `2 · RUN` words of the kernel's stack frame).
const MAX_RUNS: usize = 4;

impl<'k> Cx<'k> {
    /// With `take_runs`, the varying ciphers with invariant keys and counters that
    /// move by 0 or 1 along the inner axis take their words from runs
    /// ([`CipherRuns`]); the caller fills them before each block's loop.
    fn new(kernel: &'k Kernel, plan: &'k Plan, take_runs: bool) -> Cx<'k> {
        let inner = plan.inner();
        let mut varying = vec![false; kernel.nodes.len()];
        for (n, node) in kernel.nodes.iter().enumerate() {
            varying[n] = match node {
                Node::Load(i) => plan.strides[*i][inner] != 0,
                Node::Index(a) | Node::IndexU32(a) => plan.axis_of[*a] == Some(inner),
                Node::Lit(_) => false,
                other => operands(other).iter().any(|&m| varying[m]),
            };
        }
        let mut live = vec![false; kernel.nodes.len()];
        for out in &kernel.outputs {
            live[output_node(out)] = true;
        }
        for n in (0..kernel.nodes.len()).rev() {
            if live[n] {
                for m in operands(&kernel.nodes[n]) {
                    live[m] = true;
                }
            }
        }
        let mut runs: Vec<[usize; 4]> = Vec::new();
        let mut keys: Vec<KeyPair> = Vec::new();
        for (n, node) in kernel.nodes.iter().enumerate() {
            if let Node::Threefry { args, .. } = node {
                let key = [args[0], args[1]];
                let invariant = !varying[key[0]] && !varying[key[1]];
                if !(live[n] && varying[n] && invariant) || runs.contains(args) {
                    continue;
                }
                let stepped = [args[2], args[3]]
                    .iter()
                    .all(|&m| counter_step(kernel, plan, &varying, m).is_some());
                if take_runs && stepped && runs.len() < MAX_RUNS {
                    runs.push(*args);
                } else if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        let ramp: Vec<Option<DType>> = kernel
            .nodes
            .iter()
            .enumerate()
            .map(|(n, node)| match node {
                Node::Convert(to, x) if live[n] => ramp_dtype(kernel, plan, *to, *x),
                Node::Convert(..)
                | Node::Load(_)
                | Node::Lit(_)
                | Node::Index(_)
                | Node::IndexU32(_)
                | Node::Unary(..)
                | Node::Binary(..)
                | Node::Compare(..)
                | Node::Select(..)
                | Node::IntPow(..)
                | Node::Threefry { .. }
                | Node::BitsToUnit(..) => None,
            })
            .collect();
        let mut vec_live = vec![false; kernel.nodes.len()];
        for out in &kernel.outputs {
            vec_live[output_node(out)] = true;
        }
        for n in (0..kernel.nodes.len()).rev() {
            if vec_live[n] && ramp[n].is_none() {
                for m in operands(&kernel.nodes[n]) {
                    vec_live[m] = true;
                }
            }
        }
        let mut splat_used = vec![false; kernel.nodes.len()];
        for out in &kernel.outputs {
            splat_used[output_node(out)] = true;
        }
        for (n, node) in kernel.nodes.iter().enumerate() {
            if !live[n] || !varying[n] {
                continue;
            }
            // An invariant key comes from the row's schedule and then a zero counter
            // word is left out (see `Cx::node_value`), so neither is splatted; a
            // cipher from a run reads none of its operands.
            let read = if let Node::Threefry { args, .. } = node {
                if runs.contains(args) {
                    continue;
                }
                let scheduled = keys.contains(&[args[0], args[1]]);
                let from = if scheduled { 2 } else { 0 };
                args[from..]
                    .iter()
                    .copied()
                    .filter(|&m| from == 0 || !is_zero_lit(&kernel.nodes[m]))
                    .collect()
            } else {
                operands(node)
            };
            for m in read {
                splat_used[m] = true;
            }
        }
        Cx {
            kernel,
            plan,
            bases: Vec::new(),
            outs: Vec::new(),
            varying,
            live,
            narrow: Vec::new(),
            keys,
            runs,
            ramp,
            vec_live,
            splat_used,
            fold: None,
        }
    }

    /// Whether rows are long enough for values set up once per row for the vector
    /// loop (pinned splats, ramps) to pay for themselves.
    fn long_rows(&self, lanes: usize) -> bool {
        lanes > 1 && self.plan.dims[self.plan.inner()] >= LONG_ROW_STEPS * lanes
    }

    /// Whether vector loops over rows carry ramps.
    fn carries_ramps(&self, lanes: usize) -> bool {
        self.long_rows(lanes) && self.ramp.iter().any(Option::is_some)
    }

    /// The row state for the given indices of every non-inner axis: row pointers and
    /// the invariant nodes (splatted too when `vector_lanes > 1`). With `pin`, the
    /// row is set up outside the inner loop, and the splats that vector code reads
    /// are pinned there (see `Gen::pin`) on long rows.
    fn row(&self, g: &mut Gen, idx: Vec<Value>, vector_lanes: usize, pin: bool) -> Result<Row> {
        let mut ptrs = Vec::with_capacity(self.bases.len());
        for (i, &base) in self.bases.iter().enumerate() {
            let mut off = g.iconst(I64, self.plan.offsets[i]);
            for (a, &ix) in idx.iter().enumerate() {
                let s = self.plan.strides[i][a];
                if s != 0 {
                    let t = g.b.ins().imul_imm_s(ix, s);
                    off = g.b.ins().iadd(off, t);
                }
            }
            let bytes = g.b.ins().imul_imm_s(off, size(self.kernel.inputs[i].dtype));
            ptrs.push(g.b.ins().iadd(base, bytes));
        }
        // Cranelift recomputes a row pointer (a product and a sum) at every load in
        // the loop, as it does splats; pinned, the loop reads it from a register.
        if pin && vector_lanes > 1 && self.long_rows(vector_lanes) {
            let inner = self.plan.inner();
            let moving: Vec<usize> = (0..ptrs.len())
                .filter(|&i| self.plan.strides[i][inner] != 0)
                .collect();
            let values: Vec<Value> = moving.iter().map(|&i| ptrs[i]).collect();
            for (&i, v) in moving.iter().zip(g.pin(&values)) {
                ptrs[i] = v;
            }
        }
        let mut row = Row {
            ptrs,
            idx,
            inv: vec![None; self.kernel.nodes.len()],
            inv_vec: vec![None; self.kernel.nodes.len()],
            schedules: Vec::new(),
            runs: None,
        };
        g.w = 1;
        let zero = g.iconst(I64, 0);
        let vals = self.eval(g, &row, zero, true, &[])?;
        for (n, v) in vals.into_iter().enumerate() {
            row.inv[n] = v;
        }
        if vector_lanes > 1 {
            g.w = vector_lanes;
            let pin = pin && self.long_rows(vector_lanes);
            let mut pinned = Vec::new();
            for n in 0..self.kernel.nodes.len() {
                if let Some(s) = row.inv[n] {
                    let v = g.splat(self.kernel.dtypes[n], s);
                    row.inv_vec[n] = Some(v);
                    if pin && self.splat_used[n] {
                        pinned.push((n, v));
                    }
                }
            }
            let values: Vec<Value> = pinned.iter().map(|&(_, v)| v).collect();
            for ((n, _), v) in pinned.iter().zip(g.pin(&values)) {
                row.inv_vec[*n] = Some(v);
            }
            g.w = 1;
            for &key in &self.keys {
                let word = |n: usize| {
                    row.inv[n]
                        .ok_or_else(|| CpuError::internal(format!("key node {n} has no value")))
                };
                let (k0, k1) = (word(key[0])?, word(key[1])?);
                let entries = g.key_schedule(k0, k1);
                row.schedules.push((key, entries));
            }
        }
        Ok(row)
    }

    /// The stack buffer [`Cx::fill_runs`] fills: `2 · RUN` words per run.
    fn runs_slot(&self, g: &mut Gen) -> cranelift_codegen::ir::StackSlot {
        let bytes = (self.runs.len() * 2 * cipher::RUN * 4) as u32;
        let data = StackSlotData::new(StackSlotKind::ExplicitSlot, bytes, 6);
        g.b.create_sized_stack_slot(data)
    }

    /// Fills the runs of [`Cx::runs`] for inner indices `k0..k1` (at most
    /// [`cipher::RUN`]) of `row`, into `slot`, and lets the row read them.
    fn fill_runs(
        &self,
        g: &mut Gen,
        row: &mut Row,
        slot: cranelift_codegen::ir::StackSlot,
        k0: Value,
        k1: Value,
    ) -> Result<()> {
        if self.runs.is_empty() {
            return Ok(());
        }
        let count = g.b.ins().isub(k1, k0);
        for (r, args) in self.runs.iter().enumerate() {
            let mut call_args = Vec::with_capacity(8);
            for &m in &args[..2] {
                call_args.push(
                    row.inv[m]
                        .ok_or_else(|| CpuError::internal(format!("key node {m} has no value")))?,
                );
            }
            for &m in &args[2..] {
                let step = counter_step(self.kernel, self.plan, &self.varying, m)
                    .ok_or_else(|| CpuError::internal("a run's counter does not step"))?;
                call_args.push(self.counter_at(g, row, m, k0)?);
                call_args.push(g.iconst(I32, i64::from(step)));
            }
            call_args.push(count);
            let bytes = (2 * r * cipher::RUN * 4) as i32;
            call_args.push(g.b.ins().stack_addr(I64, slot, bytes));
            g.call_void(
                cipher::SYMBOL,
                &[I32, I32, I32, I32, I32, I32, I64, I64],
                &call_args,
            )?;
        }
        let base = g.b.ins().stack_addr(I64, slot, 0);
        let before = g.b.ins().imul_imm_s(k0, 4);
        row.runs = Some(CipherRuns {
            origin: g.b.ins().isub(base, before),
        });
        Ok(())
    }

    /// The value of counter word `m` (see [`counter_step`]) at inner index `k`.
    fn counter_at(&self, g: &mut Gen, row: &Row, m: usize, k: Value) -> Result<Value> {
        if !self.varying[m] {
            return row.inv[m]
                .ok_or_else(|| CpuError::internal(format!("counter node {m} has no value")));
        }
        match &self.kernel.nodes[m] {
            Node::IndexU32(_) => Ok(g.index_u32(k)),
            Node::Binary(BinaryOp::Add, x, y) => {
                let (x, y) = (
                    self.counter_at(g, row, *x, k)?,
                    self.counter_at(g, row, *y, k)?,
                );
                Ok(g.b.ins().iadd(x, y))
            }
            Node::Binary(..)
            | Node::Load(_)
            | Node::Lit(_)
            | Node::Index(_)
            | Node::Unary(..)
            | Node::Compare(..)
            | Node::Select(..)
            | Node::IntPow(..)
            | Node::Convert(..)
            | Node::Threefry { .. }
            | Node::BitsToUnit(..) => Err(CpuError::internal("a run's counter does not step")),
        }
    }

    /// The live nodes at inner index `j` (`j..j + w` in vector mode, `g.w` lanes).
    /// With `invariant`, computes only the invariant live nodes (the row prologue);
    /// otherwise only the varying ones, taking the rest from the row. `ramps` is
    /// empty or holds every ramp's lanes at `j` (from [`Ramps::at`]), which then
    /// stand for the conversions and their operands.
    fn eval(
        &self,
        g: &mut Gen,
        row: &Row,
        j: Value,
        invariant: bool,
        ramps: &[Option<Value>],
    ) -> Result<Vec<Option<Value>>> {
        let k = self.kernel;
        let mut vals: Vec<Option<Value>> = vec![None; k.nodes.len()];
        let mut ciphers = Ciphers::new();
        let ramped = !ramps.is_empty();
        for n in 0..k.nodes.len() {
            if !self.live[n] || (ramped && !self.vec_live[n]) {
                continue;
            }
            if self.varying[n] == invariant {
                if !invariant {
                    vals[n] = if g.w == 1 { row.inv[n] } else { row.inv_vec[n] };
                }
                continue;
            }
            if let Some(&Some(v)) = ramps.get(n) {
                vals[n] = Some(v);
                continue;
            }
            let get = |m: usize| {
                vals[m].ok_or_else(|| CpuError::internal(format!("node {m} has no value")))
            };
            let v = self.node_value(g, row, j, invariant, n, &get, &mut ciphers)?;
            vals[n] = Some(v);
        }
        Ok(vals)
    }

    /// Node `n` at inner index `j` (`g.w` lanes from `j`), its operands from `get`;
    /// `ciphers` keeps the Threefry words already computed for these lanes, so the two
    /// words of one cipher cost one cipher.
    #[allow(clippy::too_many_arguments)]
    fn node_value(
        &self,
        g: &mut Gen,
        row: &Row,
        j: Value,
        invariant: bool,
        n: usize,
        get: &dyn Fn(usize) -> Result<Value>,
        ciphers: &mut Ciphers,
    ) -> Result<Value> {
        let k = self.kernel;
        let inner = self.plan.inner();
        let d = k.dtypes[n];
        Ok(match &k.nodes[n] {
            Node::Load(i) => {
                let dt = k.inputs[*i].dtype;
                let stride = self.plan.strides[*i][inner] * size(dt);
                if invariant || stride == 0 {
                    g.load_scalar(dt, row.ptrs[*i])
                } else {
                    g.load_at(dt, row.ptrs[*i], j, stride, 0)
                }
            }
            Node::Lit(s) => g.lit(*s),
            // An index along an outer axis (or a dropped size-1 axis) is invariant, so
            // it is only computed in the row prologue, as a scalar.
            Node::Index(a) => match self.plan.axis_of[*a] {
                None => g.lit(Scalar::I64(0)),
                Some(ax) if ax == inner => {
                    if g.w == 1 {
                        j
                    } else {
                        g.index_vector(j)
                    }
                }
                Some(ax) => row.idx[ax],
            },
            Node::IndexU32(a) => match self.plan.axis_of[*a] {
                None => g.lit(Scalar::U32(0)),
                Some(ax) if ax == inner => {
                    if g.w == 1 {
                        g.index_u32(j)
                    } else {
                        g.index_u32_vector(j)
                    }
                }
                Some(ax) => g.index_u32(row.idx[ax]),
            },
            Node::Unary(op, x) => g.unary(*op, k.dtypes[*x], get(*x)?)?,
            Node::Binary(op @ (BinaryOp::Max | BinaryOp::Min), x, y)
                if ordinary_float_lit(&k.nodes[*x]) =>
            {
                g.float_max_min_by_constant(*op == BinaryOp::Max, get(*x)?, get(*y)?)
            }
            Node::Binary(op, x, y) => g.binary(*op, k.dtypes[*x], get(*x)?, get(*y)?)?,
            Node::Compare(op, x, y) => g.compare(*op, k.dtypes[*x], get(*x)?, get(*y)?)?,
            Node::Select(p, t, f) => g.select(d, get(*p)?, get(*t)?, get(*f)?),
            Node::IntPow(e, x) => g.int_pow(d, *e, get(*x)?)?,
            Node::Convert(to, x) => match k.nodes[*x] {
                // Indices are below 2^52 when their axis is, which admits a
                // two-instruction exact conversion (the iota of generated data).
                Node::Index(a)
                    if *to == DType::F64
                        && g.w > 1
                        && k.shape.get(a).is_some_and(|&e| e <= 1 << 52) =>
                {
                    g.small_index_to_f64(get(*x)?)
                }
                _ => g.convert(k.dtypes[*x], *to, get(*x)?)?,
            },
            Node::Threefry { which, args } if row.runs.is_some() && self.runs.contains(args) => {
                let inside = || CpuError::internal("a cipher from a run outside a filled block");
                let origin = row.runs.as_ref().map(|r| r.origin).ok_or_else(inside)?;
                let run = self
                    .runs
                    .iter()
                    .position(|a| a == args)
                    .ok_or_else(inside)?;
                let word = ((2 * run + *which) * cipher::RUN * 4) as i64;
                g.load_at(DType::U32, origin, j, 4, word)
            }
            Node::Threefry { which, args } => {
                let words = match ciphers.get(args) {
                    Some(&words) => words,
                    None => {
                        let key_words = || Ok([get(args[0])?, get(args[1])?]);
                        let key = if g.w == 1 {
                            CipherKey::Words(key_words()?)
                        } else {
                            row.cipher_key([args[0], args[1]], key_words)?
                        };
                        // A zero counter word (the high word of `uniform`'s counters)
                        // adds nothing.
                        let word = |m: usize| -> Result<Option<Value>> {
                            Ok(if is_zero_lit(&k.nodes[m]) {
                                None
                            } else {
                                Some(get(m)?)
                            })
                        };
                        let words = g.threefry(key, [word(args[2])?, word(args[3])?]);
                        ciphers.insert(*args, words);
                        words
                    }
                };
                *words
                    .get(*which)
                    .ok_or_else(|| CpuError::internal(format!("threefry result {which}")))?
            }
            Node::BitsToUnit(to, args) => {
                let a = args.iter().map(|&m| get(m)).collect::<Result<Vec<_>>>()?;
                g.bits_to_unit(*to, &a)?
            }
        })
    }

    /// Pairs the vector steps of a 2-lane kernel whose element code draws random bits
    /// (see [`Cx::eval_pair`]). The cipher is all 32-bit arithmetic, so two 2-lane
    /// steps share one 4-lane cipher at nearly half the cost.
    fn pair_steps(&mut self, lanes: usize) {
        let k = self.kernel;
        let random = k.nodes.iter().enumerate().any(|(n, node)| {
            self.live[n] && self.varying[n] && matches!(node, Node::Threefry { .. })
        });
        if lanes != 2 || !random {
            self.narrow.clear();
            return;
        }
        self.narrow = k
            .nodes
            .iter()
            .enumerate()
            .map(|(n, node)| {
                self.live[n]
                    && self.varying[n]
                    && is_32(k.dtypes[n])
                    && operands(node).iter().all(|&m| is_32(k.dtypes[m]))
            })
            .collect();
    }

    /// Whether vector steps run in pairs.
    fn paired(&self) -> bool {
        !self.narrow.is_empty()
    }

    /// The live varying nodes for two 2-lane steps at once, inner indices `j..j + 2`
    /// and `j + 2..j + 4`: narrow nodes (32-bit values from 32-bit operands) once over
    /// 4 lanes, the others once per half at 2 lanes, moving values between the two
    /// layouts where an operand is in the other one. Returns each half's values (in
    /// 2-lane layout, every output node included), as two calls of `eval` would.
    ///
    /// `ramps` is empty or holds every ramp's lanes at `j` and at `j + 2`.
    fn eval_pair(
        &self,
        g: &mut Gen,
        row: &Row,
        j: Value,
        ramps: [&[Option<Value>]; 2],
    ) -> Result<[Vec<Option<Value>>; 2]> {
        let k = self.kernel;
        let len = k.nodes.len();
        let missing = |m: usize| CpuError::internal(format!("node {m} has no value"));
        let mut halves: [Vec<Option<Value>>; 2] = [vec![None; len], vec![None; len]];
        let mut joined: Vec<Option<Value>> = vec![None; len];
        let js = [j, g.b.ins().iadd_imm_s(j, 2)];
        let mut ciphers = [Ciphers::new(), Ciphers::new()];
        let mut ciphers4 = Ciphers::new();
        let ramped = !ramps[0].is_empty();
        for n in 0..len {
            if !self.live[n] || (ramped && !self.vec_live[n]) {
                continue;
            }
            if let (Some(&Some(first)), Some(&Some(second))) = (ramps[0].get(n), ramps[1].get(n)) {
                halves[0][n] = Some(first);
                halves[1][n] = Some(second);
                // A 32-bit ramp carries all 4 lanes (see `Ramps`): at `j` it is the
                // value of both steps at once.
                if is_32(k.dtypes[n]) {
                    joined[n] = Some(first);
                }
                continue;
            }
            if !self.varying[n] {
                let v = row.inv_vec[n];
                halves[0][n] = v;
                halves[1][n] = v;
                // A splatted 32-bit invariant fills all 4 lanes: narrow nodes take it
                // as is.
                if is_32(k.dtypes[n]) {
                    joined[n] = v;
                }
                continue;
            }
            let ops = operands(&k.nodes[n]);
            // f64 from random bits: from the 32-bit words of all four elements at once.
            let quad = if let Node::BitsToUnit(DType::F64, args) = &k.nodes[n] {
                match args[..] {
                    [hi, lo] => Some((hi, lo)),
                    _ => None,
                }
            } else {
                None
            };
            if self.narrow[n] || quad.is_some() {
                for &m in &ops {
                    if joined[m].is_none() {
                        let a = halves[0][m].ok_or_else(|| missing(m))?;
                        let b = halves[1][m].ok_or_else(|| missing(m))?;
                        g.w = 2;
                        joined[m] = Some(g.join_pairs(a, b));
                    }
                }
            }
            if let Some((hi, lo)) = quad {
                let hi = joined[hi].ok_or_else(|| missing(hi))?;
                let lo = joined[lo].ok_or_else(|| missing(lo))?;
                let [first, second] = g.unit_f64_quad(hi, lo);
                halves[0][n] = Some(first);
                halves[1][n] = Some(second);
            } else if self.narrow[n] {
                g.w = 4;
                let get = |m: usize| joined[m].ok_or_else(|| missing(m));
                let v = self.node_value(g, row, j, false, n, &get, &mut ciphers4)?;
                joined[n] = Some(v);
            } else {
                g.w = 2;
                for h in 0..2 {
                    for &m in &ops {
                        if halves[h][m].is_none() {
                            let v = joined[m].ok_or_else(|| missing(m))?;
                            halves[h][m] = Some(if h == 0 { v } else { g.high_pair(v) });
                        }
                    }
                    let get = |m: usize| halves[h][m].ok_or_else(|| missing(m));
                    let v = self.node_value(g, row, js[h], false, n, &get, &mut ciphers[h])?;
                    halves[h][n] = Some(v);
                }
            }
        }
        // Outputs computed over 4 lanes, in the 2-lane layout of each half.
        g.w = 2;
        for out in &k.outputs {
            let m = output_node(out);
            if halves[0][m].is_none() {
                let v = joined[m].ok_or_else(|| missing(m))?;
                halves[0][m] = Some(v);
                halves[1][m] = Some(g.high_pair(v));
            }
        }
        Ok(halves)
    }

    /// A rough size of the code computing one element: what unrolling multiplies.
    fn weight(&self) -> usize {
        let k = self.kernel;
        let mut ciphers = std::collections::HashSet::new();
        k.nodes
            .iter()
            .enumerate()
            .filter(|&(n, _)| self.live[n] && self.varying[n])
            .map(|(_, node)| match node {
                Node::Unary(op, _) if op.float_only() => 16,
                Node::Binary(BinaryOp::Pow | BinaryOp::Atan2, _, _) => 16,
                Node::Binary(BinaryOp::Div | BinaryOp::Rem, _, _) => 4,
                // About a hundred instructions, once for both words; a load each
                // from a run.
                Node::Threefry { args, .. } => {
                    if self.runs.contains(args) {
                        1
                    } else if ciphers.insert(*args) {
                        32
                    } else {
                        0
                    }
                }
                Node::Load(_)
                | Node::Lit(_)
                | Node::Index(_)
                | Node::IndexU32(_)
                | Node::Unary(..)
                | Node::Binary(..)
                | Node::Compare(..)
                | Node::Select(..)
                | Node::IntPow(..)
                | Node::Convert(..)
                | Node::BitsToUnit(..) => 1,
            })
            .sum()
    }

    /// The multi-index of `flat` over `dims` (row-major), by division from the last
    /// axis; the first axis takes the remaining quotient.
    fn unflatten(g: &mut Gen, mut flat: Value, dims: &[usize]) -> Vec<Value> {
        let mut idx = vec![flat; dims.len()];
        for a in (0..dims.len()).rev() {
            if a == 0 {
                idx[0] = flat;
            } else {
                let n = g.iconst(I64, dims[a] as i64);
                idx[a] = g.b.ins().urem(flat, n);
                flat = g.b.ins().udiv(flat, n);
            }
        }
        idx
    }
}

fn build(
    kernel: &Kernel,
    plan: &Plan,
    lanes: usize,
    across: Option<&(Plan, usize)>,
    math: Math,
    footprint: Footprint,
) -> Result<(JitKernel, bool)> {
    let mut symbols: Vec<(&'static str, *const u8)> =
        libcall::all().iter().map(|l| (l.name, l.addr)).collect();
    symbols.push((cipher::SYMBOL, cipher::nabla_threefry_run as *const u8));
    symbols.push((fold::SYMBOL4_F64, fold::nabla_fold4_sums_f64 as *const u8));
    let mut session = JitSession::new(&symbols)?;
    let module = session.module();
    let ptr = module.target_config().pointer_type();
    let mut sig = module.make_signature();
    sig.params
        .extend([AbiParam::new(ptr), AbiParam::new(I64), AbiParam::new(I64)]);
    let id: FuncId = module
        .declare_function("kernel", Linkage::Local, &sig)
        .map_err(|e| CpuError::internal(format!("declaring a kernel: {e}")))?;
    let mut ctx: Context = module.make_context();
    ctx.func.signature = sig;
    ctx.func.name = UserFuncName::user(0, id.as_u32());
    let mut fctx = FunctionBuilderContext::new();
    let config = module.target_config();
    let folds;
    {
        let b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let mut g = Gen::new(b, module, math);
        // Ciphers from runs: in vector store kernels (their row loops then take at
        // most `RUN` elements at a time) and reductions over one axis (whose loops
        // stay in the block the runs were filled for), over rows long enough to pay
        // for a call, where the host's vectors are wider.
        let one_axis = plan.reduce.is_some() && plan.dims.len() == plan.nres + 1;
        let long = plan.dims.get(plan.inner()).is_some_and(|&n| n >= RUN_MIN);
        let take_runs = (one_axis || plan.reduce.is_none()) && long && lanes > 1;
        let mut cx = Cx::new(kernel, plan, take_runs && cipher::runs_pay());
        if lanes > 1 && fold::pays() {
            cx.fold = fold_plan(kernel, plan, &cx.varying);
        }
        cx.pair_steps(lanes);
        let mut cx_across = across.map(|(p, w)| (Cx::new(kernel, p, false), *w));
        let entry = g.b.create_block();
        g.b.append_block_params_for_function_params(entry);
        g.b.switch_to_block(entry);
        let params = g.b.block_params(entry).to_vec();
        let (table, start, end) = (params[0], params[1], params[2]);
        let flags = MemFlagsData::new().with_notrap();
        let nin = kernel.inputs.len();
        let ptrs: Vec<Value> = (0..nin + kernel.outputs.len())
            .map(|i| {
                let at = (i * ptr.bytes() as usize) as i32;
                g.b.ins().load(ptr, flags, table, at)
            })
            .collect();
        for c in std::iter::once(&mut cx).chain(cx_across.as_mut().map(|(c, _)| c)) {
            c.bases = ptrs[..nin].to_vec();
            c.outs = ptrs[nin..].to_vec();
        }
        let exit = g.b.create_block();
        let empty = match plan.reduce {
            None => kernel.is_empty(),
            Some(r) => r.results == 0,
        };
        if !empty {
            match plan.reduce {
                None => store_nest(&mut g, &cx, start, end, lanes, exit)?,
                Some(r) => {
                    let across = cx_across.as_ref().map(|(c, w)| (c, *w));
                    reduce_nest(&mut g, &cx, across, r, start, end, lanes, exit)?
                }
            }
        } else {
            g.b.ins().jump(exit, &[]);
        }
        g.b.switch_to_block(exit);
        g.b.ins().return_(&[]);
        g.b.seal_all_blocks();
        folds = g.has_call(fold::SYMBOL4_F64);
        g.finish(config);
    }
    let module = session.module();
    module
        .define_function(id, &mut ctx)
        .map_err(|e| CpuError::internal(format!("compiling a kernel: {e:?}")))?;
    Ok((session.finish(id, footprint)?, folds))
}

/// Loops over rows, then over the inner axis (vector steps, then a scalar tail),
/// storing every output at its flat index.
fn store_nest(
    g: &mut Gen,
    cx: &Cx,
    start: Value,
    end: Value,
    lanes: usize,
    exit: cranelift_codegen::ir::Block,
) -> Result<()> {
    let plan = cx.plan;
    let k = cx.kernel;
    let inner = plan.inner();
    let len = plan.dims[inner] as i64;
    let flat_var: Variable = g.b.declare_var(I64);
    let j_var: Variable = g.b.declare_var(I64);
    g.b.def_var(flat_var, start);
    let row_head = g.b.create_block();
    let row_body = g.b.create_block();
    g.b.ins().jump(row_head, &[]);

    g.b.switch_to_block(row_head);
    let flat = g.b.use_var(flat_var);
    let more = g.b.ins().icmp(IntCC::UnsignedLessThan, flat, end);
    g.b.ins().brif(more, row_body, &[], exit, &[]);

    g.b.switch_to_block(row_body);
    let (row_index, j0) = if inner == 0 {
        (None, flat)
    } else {
        let l = g.iconst(I64, len);
        (Some(g.b.ins().udiv(flat, l)), g.b.ins().urem(flat, l))
    };
    let left = g.b.ins().isub(end, flat);
    let upto = g.b.ins().iadd(j0, left);
    let l = g.iconst(I64, len);
    let mut j1 = g.b.ins().umin(upto, l);
    if !cx.runs.is_empty() {
        // A run holds at most `RUN` counters: longer rows take several passes of
        // this loop, each filling its runs first.
        let most = g.b.ins().iadd_imm_s(j0, cipher::RUN as i64);
        j1 = g.b.ins().umin(j1, most);
    }
    let idx = match row_index {
        Some(r) => Cx::unflatten(g, r, &plan.dims[..inner]),
        None => Vec::new(),
    };
    let mut row = cx.row(g, idx, lanes, true)?;
    if !cx.runs.is_empty() {
        let slot = cx.runs_slot(g);
        cx.fill_runs(g, &mut row, slot, j0, j1)?;
    }
    // Output `o`'s element at inner index 0 of this row.
    let row_start = g.b.ins().isub(flat, j0);
    let out_row: Vec<Value> = k
        .outputs
        .iter()
        .zip(&cx.outs)
        .map(|(out, &base)| {
            let sz = size(k.dtypes[output_node(out)]);
            let off = g.b.ins().imul_imm_s(row_start, sz);
            g.b.ins().iadd(base, off)
        })
        .collect();
    g.b.def_var(j_var, j0);
    let scalar_head = g.b.create_block();
    let scalar_body = g.b.create_block();
    let row_end = g.b.create_block();
    let store_all = |g: &mut Gen, vals: &[Option<Value>], j: Value| -> Result<()> {
        for (o, out) in k.outputs.iter().enumerate() {
            let node = output_node(out);
            let d = k.dtypes[node];
            let v = vals[node].ok_or_else(|| CpuError::internal("an output without value"))?;
            let off = g.b.ins().imul_imm_s(j, size(d));
            let addr = g.b.ins().iadd(out_row[o], off);
            g.store(d, addr, v);
        }
        Ok(())
    };
    if lanes > 1 {
        let vec_head = g.b.create_block();
        let vec_body = g.b.create_block();
        let most = if cx.paired() { 2 * lanes } else { lanes };
        let ramps = Ramps::start(g, cx, j0, lanes, most)?;
        if cx.paired() {
            // Two vector steps at a time while they fit; the plain vector loop below
            // then takes at most one more step.
            let pair_head = g.b.create_block();
            let pair_body = g.b.create_block();
            g.b.ins().jump(pair_head, &[]);
            g.b.switch_to_block(pair_head);
            let j = g.b.use_var(j_var);
            let next = g.b.ins().iadd_imm_s(j, 2 * lanes as i64);
            let fits = g.b.ins().icmp(IntCC::SignedLessThanOrEqual, next, j1);
            g.b.ins().brif(fits, pair_body, &[], vec_head, &[]);
            g.b.switch_to_block(pair_body);
            let r = [ramps.at(g, 0)?, ramps.at(g, lanes)?];
            let [first, second] = cx.eval_pair(g, &row, j, [&r[0], &r[1]])?;
            g.w = lanes;
            store_all(g, &first, j)?;
            let j2 = g.b.ins().iadd_imm_s(j, lanes as i64);
            store_all(g, &second, j2)?;
            g.w = 1;
            ramps.advance(g, 2 * lanes)?;
            g.b.def_var(j_var, next);
            g.b.ins().jump(pair_head, &[]);
        } else {
            g.b.ins().jump(vec_head, &[]);
        }
        g.b.switch_to_block(vec_head);
        let j = g.b.use_var(j_var);
        let next = g.b.ins().iadd_imm_s(j, lanes as i64);
        let fits = g.b.ins().icmp(IntCC::SignedLessThanOrEqual, next, j1);
        g.b.ins().brif(fits, vec_body, &[], scalar_head, &[]);
        g.b.switch_to_block(vec_body);
        let r = ramps.at(g, 0)?;
        g.w = lanes;
        let vals = cx.eval(g, &row, j, false, &r)?;
        store_all(g, &vals, j)?;
        g.w = 1;
        ramps.advance(g, lanes)?;
        g.b.def_var(j_var, next);
        g.b.ins().jump(vec_head, &[]);
    } else {
        g.b.ins().jump(scalar_head, &[]);
    }
    g.b.switch_to_block(scalar_head);
    let j = g.b.use_var(j_var);
    let more = g.b.ins().icmp(IntCC::SignedLessThan, j, j1);
    g.b.ins().brif(more, scalar_body, &[], row_end, &[]);
    g.b.switch_to_block(scalar_body);
    g.w = 1;
    let vals = cx.eval(g, &row, j, false, &[])?;
    store_all(g, &vals, j)?;
    let next = g.b.ins().iadd_imm_s(j, 1);
    g.b.def_var(j_var, next);
    g.b.ins().jump(scalar_head, &[]);

    g.b.switch_to_block(row_end);
    let done = g.b.ins().isub(j1, j0);
    let next = g.b.ins().iadd(flat, done);
    g.b.def_var(flat_var, next);
    g.b.ins().jump(row_head, &[]);
    Ok(())
}

/// Where a reduction's 8 lanes live during a work item.
enum Accs {
    /// Per output, `8 / w` variables of `w` lanes each (`w == 1`: scalars). A loop
    /// body either covers a group of 8 elements with the lanes in place, or (when the
    /// element code is large) one step of `w` elements after which the variables
    /// rotate, so the next elements' lanes are always in `vars[o][0]` and every lane
    /// is back in place after a whole group. `scalars` take the 8 lanes for the tail
    /// and the final combination.
    Fixed {
        vars: Vec<Vec<Variable>>,
        scalars: Vec<Vec<Variable>>,
        w: usize,
    },
    /// In a stack slot, 8 bytes per lane, indexed by the element's position
    /// (`output * 8 + lane`), for rows that do not start at lane 0.
    Dynamic {
        slot: cranelift_codegen::ir::StackSlot,
    },
}

struct Reduction<'c, 'k> {
    cx: &'c Cx<'k>,
    /// Per output: (node, dtype, op).
    outs: Vec<(usize, DType, ReduceOp)>,
    accs: Accs,
}

impl Reduction<'_, '_> {
    /// Folds the values of the next `w` elements into the lanes in front and rotates
    /// the lane variables.
    fn fold_rotate(&self, g: &mut Gen, vals: &[Option<Value>]) -> Result<()> {
        let Accs::Fixed { vars, w, .. } = &self.accs else {
            return Err(CpuError::internal("fixed-lane fold without fixed lanes"));
        };
        for (o, &(node, d, op)) in self.outs.iter().enumerate() {
            let x = vals[node].ok_or_else(|| CpuError::internal("a reduced node without value"))?;
            let acc = g.b.use_var(vars[o][0]);
            g.w = *w;
            let r = g.binary(reduce_binop(op), d, acc, x)?;
            g.w = 1;
            rotate(g, &vars[o], Some(r));
        }
        Ok(())
    }

    /// Folds the values of `w` elements into lane variable `sub` (lanes `sub * w ..`).
    fn fold_in_place(&self, g: &mut Gen, sub: usize, vals: &[Option<Value>]) -> Result<()> {
        let Accs::Fixed { vars, w, .. } = &self.accs else {
            return Err(CpuError::internal("fixed-lane fold without fixed lanes"));
        };
        for (o, &(node, d, op)) in self.outs.iter().enumerate() {
            let x = vals[node].ok_or_else(|| CpuError::internal("a reduced node without value"))?;
            let acc = g.b.use_var(vars[o][sub]);
            g.w = *w;
            let r = g.binary(reduce_binop(op), d, acc, x)?;
            g.w = 1;
            g.b.def_var(vars[o][sub], r);
        }
        Ok(())
    }

    /// Combines each output's lanes in the canonical order and stores the result of
    /// work item `item`.
    fn store_results(&self, g: &mut Gen, item: Value) -> Result<()> {
        let partials = self.combine(g)?;
        for (o, &p) in partials.iter().enumerate() {
            self.store_result(g, o, item, p);
        }
        Ok(())
    }

    /// Stores `value` as output `o`'s result of work item `item`.
    fn store_result(&self, g: &mut Gen, o: usize, item: Value, value: Value) {
        let d = self.outs[o].1;
        let off = g.b.ins().imul_imm_s(item, size(d));
        let addr = g.b.ins().iadd(self.cx.outs[o], off);
        g.store(d, addr, value);
    }

    /// Results `item..item + fold::ROWS`, each a whole row of `k` elements (one
    /// block), folded together and combined (see [`crate::fold::fold4_sums_f64`]:
    /// bitwise what [`Self::store_results`] stores from the kernel's own lanes) and
    /// stored.
    fn fold_rows(&self, g: &mut Gen, f: FoldPlan, item: Value, k: usize) -> Result<()> {
        if self.outs.len() != 1 {
            return Err(CpuError::internal("a folded sum with other outputs"));
        }
        let cx = self.cx;
        let plan = cx.plan;
        let slot = |g: &mut Gen, bytes: usize| {
            let data = StackSlotData::new(StackSlotKind::ExplicitSlot, bytes as u32, 4);
            g.b.create_sized_stack_slot(data)
        };
        let scales = slot(g, fold::ROWS * 8);
        let rows = slot(g, fold::ROWS * 8);
        let sums = slot(g, fold::ROWS * 8);
        for q in 0..fold::ROWS {
            let at = g.b.ins().iadd_imm_s(item, q as i64);
            let idx = Cx::unflatten(g, at, &plan.dims[..plan.nres]);
            let row = cx.row(g, idx, 1, false)?;
            let c = match f.scale {
                Some(n) => row.inv[n]
                    .ok_or_else(|| CpuError::internal(format!("scale node {n} has no value")))?,
                None => g.lit(Scalar::F64(0.0)),
            };
            g.b.ins().stack_store(I64, c, scales, (q * 8) as i32);
            g.b.ins()
                .stack_store(I64, row.ptrs[f.input], rows, (q * 8) as i32);
        }
        let term = g.iconst(I32, f.term as i64);
        let count = g.iconst(I64, k as i64);
        let args = [
            term,
            g.b.ins().stack_addr(I64, scales, 0),
            g.b.ins().stack_addr(I64, rows, 0),
            count,
            g.b.ins().stack_addr(I64, sums, 0),
        ];
        g.call_void(fold::SYMBOL4_F64, &[I32, I64, I64, I64, I64], &args)?;
        for q in 0..fold::ROWS {
            let v = g.b.ins().stack_load(I64, F64, sums, (q * 8) as i32);
            let at = g.b.ins().iadd_imm_s(item, q as i64);
            self.store_result(g, 0, at, v);
        }
        Ok(())
    }

    /// Moves the vector lanes into the 8 scalar lane variables.
    fn to_scalars(&self, g: &mut Gen) {
        let Accs::Fixed { vars, scalars, w } = &self.accs else {
            return;
        };
        for (o, &(_, d, _)) in self.outs.iter().enumerate() {
            for (lane, &var) in scalars[o].iter().enumerate() {
                let acc = g.b.use_var(vars[o][lane / w]);
                let v = if *w == 1 {
                    acc
                } else {
                    g.w = *w;
                    let s = g.extract(d, acc, lane % w);
                    g.w = 1;
                    s
                };
                g.b.def_var(var, v);
            }
        }
    }

    /// Folds one scalar element into scalar lane `lane`.
    fn fold_scalar_at(&self, g: &mut Gen, lane: usize, vals: &[Option<Value>]) -> Result<()> {
        let Accs::Fixed { scalars, .. } = &self.accs else {
            return Err(CpuError::internal("fixed-lane fold without fixed lanes"));
        };
        for (o, &(node, d, op)) in self.outs.iter().enumerate() {
            let x = vals[node].ok_or_else(|| CpuError::internal("a reduced node without value"))?;
            let acc = g.b.use_var(scalars[o][lane]);
            let r = g.binary(reduce_binop(op), d, acc, x)?;
            g.b.def_var(scalars[o][lane], r);
        }
        Ok(())
    }

    /// Folds one scalar element into the lane numbered by the runtime value `lane`.
    fn fold_dynamic(&self, g: &mut Gen, lane: Value, vals: &[Option<Value>]) -> Result<()> {
        let Accs::Dynamic { slot } = &self.accs else {
            return Err(CpuError::internal("dynamic fold without a lane slot"));
        };
        let base = g.b.ins().stack_addr(I64, *slot, 0);
        let lane_off = g.b.ins().imul_imm_s(lane, 8);
        let at = g.b.ins().iadd(base, lane_off);
        for (o, &(node, d, op)) in self.outs.iter().enumerate() {
            let x = vals[node].ok_or_else(|| CpuError::internal("a reduced node without value"))?;
            let flags = MemFlagsData::new().with_notrap();
            let off = (o * LANES * 8) as i32;
            let acc = g.b.ins().load(scalar_ty(d), flags, at, off);
            let r = g.binary(reduce_binop(op), d, acc, x)?;
            g.b.ins().store(flags, r, at, off);
        }
        Ok(())
    }

    fn init(&self, g: &mut Gen) {
        for (o, &(_, d, op)) in self.outs.iter().enumerate() {
            match &self.accs {
                Accs::Fixed { vars, w, .. } => {
                    g.w = *w;
                    let id = g.lit(identity(op, d));
                    g.w = 1;
                    for &var in &vars[o] {
                        g.b.def_var(var, id);
                    }
                }
                Accs::Dynamic { slot } => {
                    let id = g.lit(identity(op, d));
                    for lane in 0..LANES {
                        let off = ((o * LANES + lane) * 8) as i32;
                        g.b.ins().stack_store(I64, id, *slot, off);
                    }
                }
            }
        }
    }

    /// Each output's 8 lanes combined `((0+1)+(2+3))+((4+5)+(6+7))`.
    fn combine(&self, g: &mut Gen) -> Result<Vec<Value>> {
        let mut partials = Vec::with_capacity(self.outs.len());
        for (o, &(_, d, op)) in self.outs.iter().enumerate() {
            let mut lanes = Vec::with_capacity(LANES);
            for lane in 0..LANES {
                let v = match &self.accs {
                    Accs::Fixed { scalars, .. } => g.b.use_var(scalars[o][lane]),
                    Accs::Dynamic { slot } => {
                        let off = ((o * LANES + lane) * 8) as i32;
                        g.b.ins().stack_load(I64, scalar_ty(d), *slot, off)
                    }
                };
                lanes.push(v);
            }
            let f = reduce_binop(op);
            let a = g.binary(f, d, lanes[0], lanes[1])?;
            let b2 = g.binary(f, d, lanes[2], lanes[3])?;
            let c = g.binary(f, d, lanes[4], lanes[5])?;
            let e = g.binary(f, d, lanes[6], lanes[7])?;
            let ab = g.binary(f, d, a, b2)?;
            let ce = g.binary(f, d, c, e)?;
            partials.push(g.binary(f, d, ab, ce)?);
        }
        Ok(partials)
    }
}

/// `vars[i] = vars[i + 1]`, and the last takes `front` (the new value of the first,
/// or the old first when `None`).
fn rotate(g: &mut Gen, vars: &[Variable], front: Option<Value>) {
    let old: Vec<Value> = vars.iter().map(|&v| g.b.use_var(v)).collect();
    let n = vars.len();
    for i in 0..n - 1 {
        g.b.def_var(vars[i], old[i + 1]);
    }
    g.b.def_var(vars[n - 1], front.unwrap_or(old[0]));
}

/// Loops over work items (result, block); per item folds the block's elements into 8
/// lanes and stores the combined partial.
#[allow(clippy::too_many_arguments)]
fn reduce_nest(
    g: &mut Gen,
    cx: &Cx,
    across: Option<(&Cx, usize)>,
    r: ReducePlan,
    start: Value,
    end: Value,
    lanes: usize,
    exit: cranelift_codegen::ir::Block,
) -> Result<()> {
    let plan = cx.plan;
    let k = cx.kernel;
    let inner = plan.inner();
    let nq = plan.dims.len() - plan.nres;
    let outs: Vec<(usize, DType, ReduceOp)> = k
        .outputs
        .iter()
        .map(|o| match *o {
            Output::Reduce { node, op, .. } => Ok((node, k.dtypes[node], op)),
            Output::Store { .. } => Err(CpuError::internal("a store in a reduce kernel")),
        })
        .collect::<Result<_>>()?;
    let fixed = plan.static_lanes();
    let accs = if fixed {
        let w = lanes;
        let vars = outs
            .iter()
            .map(|&(_, d, _)| {
                g.w = w;
                let ty = g.ty(d);
                g.w = 1;
                (0..LANES / w).map(|_| g.b.declare_var(ty)).collect()
            })
            .collect();
        let scalars = outs
            .iter()
            .map(|&(_, d, _)| (0..LANES).map(|_| g.b.declare_var(scalar_ty(d))).collect())
            .collect();
        Accs::Fixed { vars, scalars, w }
    } else {
        let bytes = (outs.len() * LANES * 8) as u32;
        let slot =
            g.b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, bytes, 3));
        Accs::Dynamic { slot }
    };
    let red = Reduction { cx, outs, accs };

    let w_var = g.b.declare_var(I64);
    let k_var = g.b.declare_var(I64);
    let j_var = g.b.declare_var(I64);
    g.b.def_var(w_var, start);
    let item_head = g.b.create_block();
    let item_body = g.b.create_block();
    g.b.ins().jump(item_head, &[]);
    g.b.switch_to_block(item_head);
    let item = g.b.use_var(w_var);
    let more = g.b.ins().icmp(IntCC::UnsignedLessThan, item, end);
    g.b.ins().brif(more, item_body, &[], exit, &[]);

    g.b.switch_to_block(item_body);
    if let Some((cx_t, w)) = across {
        // A whole group of results in one row of the innermost result axis, all in this
        // call's range: one pass over the reduced axis for all of them. A cache line's
        // worth of results per pass where the row allows (strided walks cost a cache or
        // TLB miss per element, shared by the whole group), else one vector's worth.
        let row_len = plan.dims[plan.nres - 1] as i64;
        for vectors in [ACROSS_VECTORS, 1] {
            let span = (vectors * w) as i64;
            let big = cx_t.weight() > ACROSS_WEIGHT;
            if span > row_len || (vectors > 1 && (row_len < 2 * span || big)) {
                continue;
            }
            let n = g.iconst(I64, row_len);
            let pos = g.b.ins().urem(item, n);
            let last = g.b.ins().iadd_imm_s(pos, span);
            let in_row =
                g.b.ins()
                    .icmp_imm_s(IntCC::SignedLessThanOrEqual, last, row_len);
            let next = g.b.ins().iadd_imm_s(item, span);
            let in_range = g.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, next, end);
            let both = g.b.ins().band(in_row, in_range);
            let group = g.b.create_block();
            let otherwise = g.b.create_block();
            g.b.ins().brif(both, group, &[], otherwise, &[]);
            g.b.switch_to_block(group);
            across_results(g, cx_t, &red.outs, r, item, w, vectors)?;
            g.b.def_var(w_var, next);
            g.b.ins().jump(item_head, &[]);
            g.b.switch_to_block(otherwise);
        }
    }
    if let Some(f) = cx.fold {
        if r.nblocks == 1 && r.k > 0 && nq == 1 {
            // Whole rows, `fold::ROWS` at a time while the range holds them.
            let next = g.b.ins().iadd_imm_s(item, fold::ROWS as i64);
            let fits = g.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, next, end);
            let group = g.b.create_block();
            let otherwise = g.b.create_block();
            g.b.ins().brif(fits, group, &[], otherwise, &[]);
            g.b.switch_to_block(group);
            red.fold_rows(g, f, item, r.k)?;
            g.b.def_var(w_var, next);
            g.b.ins().jump(item_head, &[]);
            g.b.switch_to_block(otherwise);
        }
    }
    let (result, block) = if r.nblocks == 1 {
        (item, None)
    } else {
        let nb = g.iconst(I64, r.nblocks as i64);
        (g.b.ins().udiv(item, nb), Some(g.b.ins().urem(item, nb)))
    };
    let res_idx = Cx::unflatten(g, result, &plan.dims[..plan.nres]);
    red.init(g);
    let done = g.b.create_block();
    if r.k > 0 {
        let (k0, k1) = match block {
            None => (g.iconst(I64, 0), g.iconst(I64, r.k as i64)),
            Some(b) => {
                let k0 = g.b.ins().imul_imm_s(b, BLOCK as i64);
                let top = g.b.ins().iadd_imm_s(k0, BLOCK as i64);
                let kk = g.iconst(I64, r.k as i64);
                (k0, g.b.ins().umin(top, kk))
            }
        };
        if nq == 1 {
            // One row: the reduced space is the inner axis, positions are k itself.
            let mut row = cx.row(g, res_idx, lanes, true)?;
            if !cx.runs.is_empty() {
                let slot = cx.runs_slot(g);
                cx.fill_runs(g, &mut row, slot, k0, k1)?;
            }
            g.b.def_var(k_var, k0);
            let tail = g.b.create_block();
            let whole = if r.k.is_multiple_of(LANES) {
                k1
            } else {
                let n = g.b.ins().isub(k1, k0);
                let n = g.b.ins().band_imm_s(n, !(LANES as i64 - 1));
                g.b.ins().iadd(k0, n)
            };
            runs(g, &red, &row, k_var, whole, lanes, tail)?;
            g.b.switch_to_block(tail);
            let rem = r.k % LANES;
            if rem == 0 {
                red.to_scalars(g);
                g.b.ins().jump(done, &[]);
            } else {
                // Blocks start at multiples of 8, so only the last one has a tail, of
                // `r.k % 8` elements known here: they fold straight into their lanes,
                // whole vectors first, with no loop and no lane rotation.
                let has_tail = g.b.create_block();
                let no_tail = g.b.create_block();
                let left = g.b.ins().isub(k1, whole);
                g.b.ins().brif(left, has_tail, &[], no_tail, &[]);
                g.b.switch_to_block(has_tail);
                let vectors = rem / lanes;
                for sub in 0..vectors {
                    let at = g.b.ins().iadd_imm_s(whole, (sub * lanes) as i64);
                    g.w = lanes;
                    let vals = cx.eval(g, &row, at, false, &[])?;
                    g.w = 1;
                    red.fold_in_place(g, sub, &vals)?;
                }
                red.to_scalars(g);
                for lane in vectors * lanes..rem {
                    let at = g.b.ins().iadd_imm_s(whole, lane as i64);
                    g.w = 1;
                    let vals = cx.eval(g, &row, at, false, &[])?;
                    red.fold_scalar_at(g, lane, &vals)?;
                }
                g.b.ins().jump(done, &[]);
                g.b.switch_to_block(no_tail);
                red.to_scalars(g);
                g.b.ins().jump(done, &[]);
            }
        } else {
            let lq = plan.dims[inner] as i64;
            g.b.def_var(k_var, k0);
            let seg_head = g.b.create_block();
            let seg_body = g.b.create_block();
            g.b.ins().jump(seg_head, &[]);
            g.b.switch_to_block(seg_head);
            let kk = g.b.use_var(k_var);
            let more = g.b.ins().icmp(IntCC::UnsignedLessThan, kk, k1);
            let segs_done = g.b.create_block();
            g.b.ins().brif(more, seg_body, &[], segs_done, &[]);
            g.b.switch_to_block(segs_done);
            red.to_scalars(g);
            g.b.ins().jump(done, &[]);
            g.b.switch_to_block(seg_body);
            let l = g.iconst(I64, lq);
            let rrow = g.b.ins().udiv(kk, l);
            let j0 = g.b.ins().urem(kk, l);
            let left = g.b.ins().isub(k1, kk);
            let upto = g.b.ins().iadd(j0, left);
            let l2 = g.iconst(I64, lq);
            let j1 = g.b.ins().umin(upto, l2);
            let mut idx = res_idx.clone();
            idx.extend(Cx::unflatten(g, rrow, &plan.dims[plan.nres..inner]));
            let row = cx.row(g, idx, lanes, true)?;
            g.b.def_var(j_var, j0);
            let seg_end = g.b.create_block();
            if fixed {
                runs(g, &red, &row, j_var, j1, lanes, seg_end)?;
            } else {
                // Lane of inner index j: the flat position kk + (j - j0), mod 8.
                let head = g.b.create_block();
                let body = g.b.create_block();
                g.b.ins().jump(head, &[]);
                g.b.switch_to_block(head);
                let j = g.b.use_var(j_var);
                let more = g.b.ins().icmp(IntCC::SignedLessThan, j, j1);
                g.b.ins().brif(more, body, &[], seg_end, &[]);
                g.b.switch_to_block(body);
                g.w = 1;
                let vals = cx.eval(g, &row, j, false, &[])?;
                let pos = g.b.ins().isub(j, j0);
                let pos = g.b.ins().iadd(pos, kk);
                let lane = g.b.ins().band_imm_s(pos, (LANES - 1) as i64);
                red.fold_dynamic(g, lane, &vals)?;
                let next = g.b.ins().iadd_imm_s(j, 1);
                g.b.def_var(j_var, next);
                g.b.ins().jump(head, &[]);
            }
            g.b.switch_to_block(seg_end);
            let span = g.b.ins().isub(j1, j0);
            let next = g.b.ins().iadd(kk, span);
            g.b.def_var(k_var, next);
            g.b.ins().jump(seg_head, &[]);
        }
    } else {
        red.to_scalars(g);
        g.b.ins().jump(done, &[]);
    }
    g.b.switch_to_block(done);
    g.w = 1;
    red.store_results(g, item)?;
    let next = g.b.ins().iadd_imm_s(item, 1);
    g.b.def_var(w_var, next);
    g.b.ins().jump(item_head, &[]);
    Ok(())
}

/// The most ramp lanes (see [`Ramps`]) past a loop's position carried in variables
/// of their own. Derived from the ramp, each is an add that waits on the add moving
/// the ramp on; carried, each moves on by itself, and a sum of squares of a
/// generated ramp takes 16 % less time (one core, f64 2-lane steps unrolled over 8
/// lanes). Each costs a vector register for the loop's length.
const SPREAD_RAMPS: usize = 6;

/// Vector steps a full row takes at least for values set up once per row (pinned
/// splats, ramps) to pay off: they cost about what a step or two saves.
const LONG_ROW_STEPS: usize = 4;

/// The most element code (see `Cx::weight`) a loop body may repeat to keep lanes in
/// place instead of rotating them.
const UNROLL_BUDGET: usize = 64;

/// Vectors of results per pass over a strided reduced axis: 64 bytes of f64 or f32.
const ACROSS_VECTORS: usize = 4;
/// The most code (see `Cx::weight`) an element may take for that pass to repeat it
/// per vector of results.
const ACROSS_WEIGHT: usize = 24;

/// Work items `item..item + vectors * w` (results adjacent along the innermost result
/// axis, one block each) computed together: per reduced position `k`, each vector of
/// `w` results' elements folds into lane `k % 8` of those results' 8 lanes (8 vector
/// accumulators per vector of results), then each result's lanes combine in the
/// canonical order and are stored.
fn across_results(
    g: &mut Gen,
    cx: &Cx,
    outs: &[(usize, DType, ReduceOp)],
    r: ReducePlan,
    item: Value,
    w: usize,
    vectors: usize,
) -> Result<()> {
    let plan = cx.plan;
    // In the permuted plan: result axes but the innermost, the reduced axis, then the
    // innermost result axis (the vector axis).
    let res_dims: Vec<usize> = plan.dims[..plan.nres - 1]
        .iter()
        .copied()
        .chain([plan.dims[plan.inner()]])
        .collect();
    let res_idx = Cx::unflatten(g, item, &res_dims);
    let (outer, inner_pos) = res_idx.split_at(res_idx.len() - 1);
    let j = inner_pos[0];
    // accs[o][v][lane]: output o, vector v of results, canonical lane.
    let accs: Vec<Vec<Vec<Variable>>> = outs
        .iter()
        .map(|&(_, d, op)| {
            g.w = w;
            let ty = g.ty(d);
            let id = g.lit(identity(op, d));
            g.w = 1;
            (0..vectors)
                .map(|_| {
                    (0..LANES)
                        .map(|_| {
                            let v = g.b.declare_var(ty);
                            g.b.def_var(v, id);
                            v
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    // Per element position, each vector of results folds into its lane variable for
    // that position: unrolled over a group of 8 positions with the lanes in place, or
    // (for large element code) one position per iteration with the lanes rotating
    // (see `Accs::Fixed`).
    let unroll = cx.weight() * vectors * LANES <= UNROLL_BUDGET * 2;
    let fold = |g: &mut Gen, kk: Value, lane: Option<usize>| -> Result<()> {
        let mut idx = outer.to_vec();
        idx.push(kk);
        // Set up inside the loop over the reduced axis, so nothing to pin.
        let row = cx.row(g, idx, w, false)?;
        for v in 0..vectors {
            let at = g.b.ins().iadd_imm_s(j, (v * w) as i64);
            g.w = w;
            let vals = cx.eval(g, &row, at, false, &[])?;
            for (per_out, &(node, d, op)) in accs.iter().zip(outs) {
                let x =
                    vals[node].ok_or_else(|| CpuError::internal("a reduced node without value"))?;
                let acc = g.b.use_var(per_out[v][lane.unwrap_or(0)]);
                let folded = g.binary(reduce_binop(op), d, acc, x)?;
                match lane {
                    Some(l) => g.b.def_var(per_out[v][l], folded),
                    None => rotate(g, &per_out[v], Some(folded)),
                }
            }
            g.w = 1;
        }
        Ok(())
    };
    let k_var = g.b.declare_var(I64);
    let zero = g.iconst(I64, 0);
    g.b.def_var(k_var, zero);
    let (step, stop) = if unroll {
        (LANES, r.k / LANES * LANES)
    } else {
        (1, r.k)
    };
    if stop > 0 {
        let head = g.b.create_block();
        let body = g.b.create_block();
        let after = g.b.create_block();
        g.b.ins().jump(head, &[]);
        g.b.switch_to_block(head);
        let kk = g.b.use_var(k_var);
        let more = g.b.ins().icmp_imm_s(IntCC::SignedLessThan, kk, stop as i64);
        g.b.ins().brif(more, body, &[], after, &[]);
        g.b.switch_to_block(body);
        if unroll {
            for lane in 0..LANES {
                let at = g.b.ins().iadd_imm_s(kk, lane as i64);
                fold(g, at, Some(lane))?;
            }
        } else {
            fold(g, kk, None)?;
        }
        let next = g.b.ins().iadd_imm_s(kk, step as i64);
        g.b.def_var(k_var, next);
        g.b.ins().jump(head, &[]);
        g.b.switch_to_block(after);
    }
    // Unrolled, the reduced length is static, so the tail's lanes are known. Rotated,
    // lane `l` ends in variable `(l - k) mod 8`.
    let shift = if unroll {
        for lane in 0..r.k % LANES {
            let at = g.iconst(I64, (stop + lane) as i64);
            fold(g, at, Some(lane))?;
        }
        0
    } else {
        r.k % LANES
    };
    for (o, &(_, d, op)) in outs.iter().enumerate() {
        let f = reduce_binop(op);
        let sz = size(d);
        for res in 0..vectors * w {
            let mut lanes = Vec::with_capacity(LANES);
            for lane in 0..LANES {
                let var = accs[o][res / w][(lane + LANES - shift) % LANES];
                let acc = g.b.use_var(var);
                g.w = w;
                let s = g.extract(d, acc, res % w);
                g.w = 1;
                lanes.push(s);
            }
            let a = g.binary(f, d, lanes[0], lanes[1])?;
            let b = g.binary(f, d, lanes[2], lanes[3])?;
            let c = g.binary(f, d, lanes[4], lanes[5])?;
            let e = g.binary(f, d, lanes[6], lanes[7])?;
            let ab = g.binary(f, d, a, b)?;
            let ce = g.binary(f, d, c, e)?;
            let p = g.binary(f, d, ab, ce)?;
            let at = g.b.ins().iadd_imm_s(item, res as i64);
            let off = g.b.ins().imul_imm_s(at, sz);
            let addr = g.b.ins().iadd(cx.outs[o], off);
            g.store(d, addr, p);
        }
    }
    Ok(())
}

/// The elements at inner positions `pos..end` (a whole number of groups of 8, each
/// starting at lane 0), `lanes` at a time; leaves `pos` at `end` and continues at
/// `after`.
fn runs(
    g: &mut Gen,
    red: &Reduction,
    row: &Row,
    pos: Variable,
    end: Value,
    lanes: usize,
    after: cranelift_codegen::ir::Block,
) -> Result<()> {
    // Small element code is unrolled over a group of 8 with the lanes in place;
    // large code is emitted once and the lanes rotate.
    let unroll = red.cx.weight() * (LANES / lanes) <= UNROLL_BUDGET;
    let step = match (unroll, red.cx.paired()) {
        (true, _) => LANES,
        (false, true) => 2 * lanes,
        (false, false) => lanes,
    };
    let first = g.b.use_var(pos);
    let ramps = Ramps::start(g, red.cx, first, lanes, step)?;
    let head = g.b.create_block();
    let body = g.b.create_block();
    g.b.ins().jump(head, &[]);
    g.b.switch_to_block(head);
    let p = g.b.use_var(pos);
    let more = g.b.ins().icmp(IntCC::SignedLessThan, p, end);
    g.b.ins().brif(more, body, &[], after, &[]);
    g.b.switch_to_block(body);
    if red.cx.paired() {
        // Two vector steps per evaluation (see `Cx::eval_pair`), folded as two steps.
        let pairs = if unroll { LANES / (2 * lanes) } else { 1 };
        for pair in 0..pairs {
            let at = g.b.ins().iadd_imm_s(p, (pair * 2 * lanes) as i64);
            let off = pair * 2 * lanes;
            let r = [ramps.at(g, off)?, ramps.at(g, off + lanes)?];
            let halves = red.cx.eval_pair(g, row, at, [&r[0], &r[1]])?;
            g.w = 1;
            for (h, vals) in halves.iter().enumerate() {
                if unroll {
                    red.fold_in_place(g, 2 * pair + h, vals)?;
                } else {
                    red.fold_rotate(g, vals)?;
                }
            }
        }
    } else if unroll {
        for sub in 0..LANES / lanes {
            let at = g.b.ins().iadd_imm_s(p, (sub * lanes) as i64);
            let r = ramps.at(g, sub * lanes)?;
            g.w = lanes;
            let vals = red.cx.eval(g, row, at, false, &r)?;
            g.w = 1;
            red.fold_in_place(g, sub, &vals)?;
        }
    } else {
        let r = ramps.at(g, 0)?;
        g.w = lanes;
        let vals = red.cx.eval(g, row, p, false, &r)?;
        g.w = 1;
        red.fold_rotate(g, &vals)?;
    }
    ramps.advance(g, step)?;
    let next = g.b.ins().iadd_imm_s(p, step as i64);
    g.b.def_var(pos, next);
    g.b.ins().jump(head, &[]);
    Ok(())
}
