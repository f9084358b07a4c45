//! The kernel IR: one fused loop nest, the contract between the fusion planner (which
//! builds kernels from IR equations) and code generation (which compiles them).
//!
//! A kernel walks an iteration space `shape` (row-major). Every input is read through
//! an affine map from the iteration index to an element index, which is how broadcasts
//! (stride 0), transposes (permuted strides), slices (offset and scaled strides) and
//! reversals (negative strides) cost nothing. A small SSA program of scalar operations
//! (`nodes`) computes values per iteration point; outputs store a node over the whole
//! space or reduce it over the trailing axes in the canonical order.

use nabla_ir::{BinaryOp, CmpOp, DType, ReduceOp, Scalar, UnaryOp};

/// Index of a node in [`Kernel::nodes`].
pub type NodeId = usize;

/// How an input buffer is read: the element at iteration index `i` is
/// `buffer[offset + Σ_d i[d] * strides[d]]` (in elements, never out of bounds).
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub dtype: DType,
    /// One stride per axis of the iteration space.
    pub strides: Vec<isize>,
    pub offset: isize,
    /// The buffer's length in elements (for bounds checks in tests and debug builds).
    pub len: usize,
}

/// A scalar operation per iteration point. Operands are earlier nodes; every node has
/// one dtype ([`Kernel::dtypes`]), and operand dtypes follow the IR's rules for the
/// same primitive (`nabla_ir::shape::infer`).
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// The current element of an input.
    Load(usize),
    Lit(Scalar),
    /// The iteration index along an axis (an `i64`, for `iota`).
    Index(usize),
    /// The iteration index along an axis modulo 2^32, as a `u32` (for `u32` and `i32`
    /// iotas, random counters above all): exactly `Convert(U32, Index(axis))`, but a
    /// kernel without 64-bit values keeps its 4 vector lanes.
    IndexU32(usize),
    Unary(UnaryOp, NodeId),
    Binary(BinaryOp, NodeId, NodeId),
    Compare(CmpOp, NodeId, NodeId),
    /// `(pred, on_true, on_false)`.
    Select(NodeId, NodeId, NodeId),
    IntPow(i64, NodeId),
    Convert(DType, NodeId),
    /// Result `which` (0 or 1) of the Threefry-2x32 cipher on `(k0, k1, x0, x1)`, all u32.
    /// The two results of the same operands are two nodes; code generation computes
    /// the cipher once for both.
    Threefry {
        which: usize,
        args: [NodeId; 4],
    },
    /// Random bits to a float in `[0, 1)` as `Prim::BitsToUnit` (f32 from one u32, f64
    /// from `hi`, `lo`).
    BitsToUnit(DType, Vec<NodeId>),
}

/// What a kernel writes.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// `node` at every iteration point, stored contiguously in row-major order.
    Store { node: NodeId },
    /// `node` reduced over the trailing `nreduce` axes of the iteration space with `op`,
    /// one result per index of the leading axes (row-major). The order of the reduction
    /// is `nabla_ir::canonical`'s over the reduced axes flattened row-major: blocks of
    /// `BLOCK` elements, `LANES` lanes inside a block (element `j` of a block goes to
    /// lane `j % LANES`, each lane accumulates sequentially from the op's identity),
    /// lanes combined `((0+1)+(2+3))+((4+5)+(6+7))`, blocks combined by
    /// `canonical::tree`. Compiled code produces one partial per (result, block); the
    /// runtime combines the blocks.
    Reduce {
        node: NodeId,
        op: ReduceOp,
        nreduce: usize,
    },
}

/// One fused loop nest.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    pub shape: Vec<usize>,
    pub inputs: Vec<Input>,
    pub nodes: Vec<Node>,
    /// The dtype of each node.
    pub dtypes: Vec<DType>,
    pub outputs: Vec<Output>,
}

impl Kernel {
    /// Elements of the iteration space.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
