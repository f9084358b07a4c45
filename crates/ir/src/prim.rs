//! The closed set of primitives and their static parameters.
//!
//! Every rule over primitives (shape inference, interpretation, jvp, transpose,
//! batching, lowering to a backend) is an exhaustive `match` on [`Prim`] and its
//! operator enums with no catch-all arm: adding a variant makes the compiler list every
//! rule that still needs writing.

use crate::array::Array;
use crate::dtype::DType;
use crate::ir::Body;

/// Elementwise functions of one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Abs,
    Sign,
    Exp,
    Expm1,
    Log,
    Log1p,
    Sqrt,
    Rsqrt,
    Sin,
    Cos,
    Tan,
    Tanh,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Erf,
    Erfinv,
    Floor,
    Ceil,
    /// Round half to even, as NumPy and JAX do.
    Round,
    /// Bool result.
    IsNan,
    /// Bool result.
    IsFinite,
    /// Logical not for bool, bitwise not for integers.
    Not,
}

/// Elementwise functions of two operands of the same dtype and shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    /// True division for floats; truncating division for integers (like `lax.div`).
    Div,
    /// Remainder with the sign of the dividend (C `fmod`, `lax.rem`).
    Rem,
    Pow,
    Atan2,
    Max,
    Min,
    /// Logical for bool, bitwise for integers.
    And,
    Or,
    Xor,
    ShiftLeft,
    ShiftRightLogical,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Prod,
    Max,
    Min,
    /// Logical and over bools (`all`).
    And,
    /// Logical or over bools (`any`).
    Or,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgOp {
    ArgMax,
    ArgMin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CumOp {
    Sum,
    Prod,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScatterMode {
    Set,
    Add,
}

/// A primitive operation with its static parameters.
///
/// Operand conventions are documented per variant; `docs/transforms.md` lists the rules over them.
#[derive(Clone, Debug, PartialEq)]
pub enum Prim {
    /// `(x) -> y`, same shape; dtype kept except `IsNan`/`IsFinite` (bool).
    Unary(UnaryOp),
    /// `(x, y) -> z`, operands of equal type.
    Binary(BinaryOp),
    /// `(x, y) -> bool`, operands of equal type.
    Compare(CmpOp),
    /// `(pred: bool, on_true, on_false) -> out`, all of one shape.
    Select,
    /// `x ** exponent` for a static integer exponent (exact for small powers).
    IntPow {
        exponent: i64,
    },
    /// `(x) -> x as dtype` with NumPy `astype` semantics.
    Convert {
        dtype: DType,
    },
    /// Identity whose derivative is zero.
    StopGradient,
    /// `() -> value`.
    Constant {
        value: Array,
    },
    /// `() -> [0, 1, …]` along `axis` of `shape`, broadcast over the other axes.
    Iota {
        dtype: DType,
        shape: Vec<usize>,
        axis: usize,
    },
    /// `(x) -> y` of `shape`; operand axis `i` becomes result axis `dims[i]` (XLA's
    /// broadcast_in_dim: operand dims must be 1 or equal the target dim).
    BroadcastInDim {
        shape: Vec<usize>,
        dims: Vec<usize>,
    },
    Reshape {
        shape: Vec<usize>,
    },
    /// Result axis `i` is operand axis `perm[i]`.
    Transpose {
        perm: Vec<usize>,
    },
    /// Static strided slice `start..limit` step `stride` per axis.
    Slice {
        start: Vec<usize>,
        limit: Vec<usize>,
        stride: Vec<usize>,
    },
    /// `(x, pad_value: scalar) -> y`; negative padding removes elements.
    Pad {
        lo: Vec<i64>,
        hi: Vec<i64>,
    },
    /// `(x0, x1, …) -> concatenation along axis`.
    Concat {
        axis: usize,
    },
    /// Reverses the listed axes.
    Rev {
        axes: Vec<usize>,
    },
    /// Reduces `axes` (removed from the result) in the canonical order of
    /// [`crate::canonical`]; `compensated` selects twice-working-precision summation.
    Reduce {
        op: ReduceOp,
        axes: Vec<usize>,
        compensated: bool,
    },
    /// Index of the first extreme element along `axis` (NaN counts as extreme).
    ArgReduce {
        op: ArgOp,
        axis: usize,
        index_dtype: DType,
    },
    /// Inclusive running sum/product along `axis`, sequential order.
    Cumulative {
        op: CumOp,
        axis: usize,
        reverse: bool,
    },
    /// `(lhs, rhs) -> out` contracting the listed axis pairs. Result axes: batch axes,
    /// then lhs free axes, then rhs free axes (XLA's dot_general).
    DotGeneral {
        lhs_contract: Vec<usize>,
        rhs_contract: Vec<usize>,
        lhs_batch: Vec<usize>,
        rhs_batch: Vec<usize>,
        compensated: bool,
    },
    /// `(x, idx: int) -> y` gathering along `axis`; result shape
    /// `x[..axis] ++ idx ++ x[axis+1..]`; indices are clamped into range.
    Take {
        axis: usize,
    },
    /// `(x, idx: int, updates) -> y`: `updates` shaped like `Take`'s result; out-of-range
    /// indices are dropped; `Add` accumulates duplicates in index order.
    Scatter {
        axis: usize,
        mode: ScatterMode,
    },
    /// `(x, start_0, …, start_{r-1}: int scalars) -> slice of `sizes``; starts are
    /// clamped so the slice stays in bounds.
    DynamicSlice {
        sizes: Vec<usize>,
    },
    /// `(x, update, start_0, …)`: writes `update` at the clamped starts.
    DynamicUpdateSlice,
    /// `(k0, k1, x0, x1: u32, one shape) -> (y0, y1)`: the Threefry-2x32 block cipher
    /// (20 rounds), elementwise.
    Threefry2x32,
    /// Random bits to a float in `[0, 1)` as JAX does: f32 from one `u32` operand (the
    /// top 23 bits become the mantissa), f64 from two (`hi`, `lo`: the top 52 bits of
    /// `hi << 32 | lo`).
    BitsToUnit {
        dtype: DType,
    },
    /// `(pred: bool scalar, operands…) -> results` of `then_body` or `else_body`, both
    /// taking the operands.
    Cond {
        then_body: Body,
        else_body: Body,
    },
    /// `(cond_consts…, body_consts…, init…) -> final carry`: while
    /// `cond_body(cond_consts, carry)` is true, `carry = body(body_consts, carry)`.
    While {
        cond_body: Body,
        body: Body,
        cond_nconsts: usize,
        body_nconsts: usize,
    },
    /// `(consts…, init…, xs…) -> (final carry…, ys…)`: `length` steps of
    /// `body(consts, carry, x_slices) -> (carry, y_slices)`, slicing `xs` along axis 0
    /// and stacking `ys` along a new axis 0; `reverse` walks from the end.
    Scan {
        body: Body,
        nconsts: usize,
        ncarry: usize,
        length: usize,
        reverse: bool,
    },
}

impl UnaryOp {
    pub const ALL: [UnaryOp; 26] = [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Sign,
        UnaryOp::Exp,
        UnaryOp::Expm1,
        UnaryOp::Log,
        UnaryOp::Log1p,
        UnaryOp::Sqrt,
        UnaryOp::Rsqrt,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tan,
        UnaryOp::Tanh,
        UnaryOp::Asin,
        UnaryOp::Acos,
        UnaryOp::Atan,
        UnaryOp::Sinh,
        UnaryOp::Cosh,
        UnaryOp::Erf,
        UnaryOp::Erfinv,
        UnaryOp::Floor,
        UnaryOp::Ceil,
        UnaryOp::Round,
        UnaryOp::IsNan,
        UnaryOp::IsFinite,
        UnaryOp::Not,
    ];

    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Abs => "abs",
            UnaryOp::Sign => "sign",
            UnaryOp::Exp => "exp",
            UnaryOp::Expm1 => "expm1",
            UnaryOp::Log => "log",
            UnaryOp::Log1p => "log1p",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Rsqrt => "rsqrt",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Tan => "tan",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Asin => "asin",
            UnaryOp::Acos => "acos",
            UnaryOp::Atan => "atan",
            UnaryOp::Sinh => "sinh",
            UnaryOp::Cosh => "cosh",
            UnaryOp::Erf => "erf",
            UnaryOp::Erfinv => "erfinv",
            UnaryOp::Floor => "floor",
            UnaryOp::Ceil => "ceil",
            UnaryOp::Round => "round",
            UnaryOp::IsNan => "isnan",
            UnaryOp::IsFinite => "isfinite",
            UnaryOp::Not => "not",
        }
    }

    /// Whether the op is defined only on floats (the rest also take integers).
    pub fn float_only(self) -> bool {
        match self {
            UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign | UnaryOp::Not => false,
            UnaryOp::Exp
            | UnaryOp::Expm1
            | UnaryOp::Log
            | UnaryOp::Log1p
            | UnaryOp::Sqrt
            | UnaryOp::Rsqrt
            | UnaryOp::Sin
            | UnaryOp::Cos
            | UnaryOp::Tan
            | UnaryOp::Tanh
            | UnaryOp::Asin
            | UnaryOp::Acos
            | UnaryOp::Atan
            | UnaryOp::Sinh
            | UnaryOp::Cosh
            | UnaryOp::Erf
            | UnaryOp::Erfinv
            | UnaryOp::Floor
            | UnaryOp::Ceil
            | UnaryOp::Round
            | UnaryOp::IsNan
            | UnaryOp::IsFinite => true,
        }
    }
}

impl BinaryOp {
    pub const ALL: [BinaryOp; 14] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Rem,
        BinaryOp::Pow,
        BinaryOp::Atan2,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::And,
        BinaryOp::Or,
        BinaryOp::Xor,
        BinaryOp::ShiftLeft,
        BinaryOp::ShiftRightLogical,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Rem => "rem",
            BinaryOp::Pow => "pow",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Max => "max",
            BinaryOp::Min => "min",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Xor => "xor",
            BinaryOp::ShiftLeft => "shift_left",
            BinaryOp::ShiftRightLogical => "shift_right_logical",
        }
    }
}

impl CmpOp {
    pub const ALL: [CmpOp; 6] = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
        }
    }
}

impl ReduceOp {
    pub const ALL: [ReduceOp; 6] = [
        ReduceOp::Sum,
        ReduceOp::Prod,
        ReduceOp::Max,
        ReduceOp::Min,
        ReduceOp::And,
        ReduceOp::Or,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "reduce_sum",
            ReduceOp::Prod => "reduce_prod",
            ReduceOp::Max => "reduce_max",
            ReduceOp::Min => "reduce_min",
            ReduceOp::And => "reduce_and",
            ReduceOp::Or => "reduce_or",
        }
    }
}

impl ArgOp {
    pub fn name(self) -> &'static str {
        match self {
            ArgOp::ArgMax => "argmax",
            ArgOp::ArgMin => "argmin",
        }
    }
}

impl CumOp {
    pub fn name(self) -> &'static str {
        match self {
            CumOp::Sum => "cumsum",
            CumOp::Prod => "cumprod",
        }
    }
}

impl ScatterMode {
    pub fn name(self) -> &'static str {
        match self {
            ScatterMode::Set => "scatter",
            ScatterMode::Add => "scatter_add",
        }
    }
}

impl Prim {
    /// The primitive's name in IR text.
    pub fn name(&self) -> &'static str {
        match self {
            Prim::Unary(op) => op.name(),
            Prim::Binary(op) => op.name(),
            Prim::Compare(op) => op.name(),
            Prim::Select => "select",
            Prim::IntPow { .. } => "integer_pow",
            Prim::Convert { .. } => "convert",
            Prim::StopGradient => "stop_gradient",
            Prim::Constant { .. } => "constant",
            Prim::Iota { .. } => "iota",
            Prim::BroadcastInDim { .. } => "broadcast_in_dim",
            Prim::Reshape { .. } => "reshape",
            Prim::Transpose { .. } => "transpose",
            Prim::Slice { .. } => "slice",
            Prim::Pad { .. } => "pad",
            Prim::Concat { .. } => "concat",
            Prim::Rev { .. } => "rev",
            Prim::Reduce { op, .. } => op.name(),
            Prim::ArgReduce { op, .. } => op.name(),
            Prim::Cumulative { op, .. } => op.name(),
            Prim::DotGeneral { .. } => "dot_general",
            Prim::Take { .. } => "take",
            Prim::Scatter { mode, .. } => mode.name(),
            Prim::DynamicSlice { .. } => "dynamic_slice",
            Prim::DynamicUpdateSlice => "dynamic_update_slice",
            Prim::Threefry2x32 => "threefry2x32",
            Prim::BitsToUnit { .. } => "bits_to_unit",
            Prim::Cond { .. } => "cond",
            Prim::While { .. } => "while",
            Prim::Scan { .. } => "scan",
        }
    }

    /// The primitive with each nested body replaced by `f(body)` (in the order of
    /// [`Prim::bodies`]); bodiless primitives are cloned. Transforms and inliners use it
    /// to rebuild control flow with fresh or rewritten bodies.
    pub fn try_map_bodies<E>(
        &self,
        mut f: impl FnMut(&Body) -> Result<Body, E>,
    ) -> Result<Prim, E> {
        Ok(match self {
            Prim::Cond {
                then_body,
                else_body,
            } => Prim::Cond {
                then_body: f(then_body)?,
                else_body: f(else_body)?,
            },
            Prim::While {
                cond_body,
                body,
                cond_nconsts,
                body_nconsts,
            } => Prim::While {
                cond_body: f(cond_body)?,
                body: f(body)?,
                cond_nconsts: *cond_nconsts,
                body_nconsts: *body_nconsts,
            },
            Prim::Scan {
                body,
                nconsts,
                ncarry,
                length,
                reverse,
            } => Prim::Scan {
                body: f(body)?,
                nconsts: *nconsts,
                ncarry: *ncarry,
                length: *length,
                reverse: *reverse,
            },
            Prim::Unary(_)
            | Prim::Binary(_)
            | Prim::Compare(_)
            | Prim::Select
            | Prim::IntPow { .. }
            | Prim::Convert { .. }
            | Prim::StopGradient
            | Prim::Constant { .. }
            | Prim::Iota { .. }
            | Prim::BroadcastInDim { .. }
            | Prim::Reshape { .. }
            | Prim::Transpose { .. }
            | Prim::Slice { .. }
            | Prim::Pad { .. }
            | Prim::Concat { .. }
            | Prim::Rev { .. }
            | Prim::Reduce { .. }
            | Prim::ArgReduce { .. }
            | Prim::Cumulative { .. }
            | Prim::DotGeneral { .. }
            | Prim::Take { .. }
            | Prim::Scatter { .. }
            | Prim::DynamicSlice { .. }
            | Prim::DynamicUpdateSlice
            | Prim::Threefry2x32
            | Prim::BitsToUnit { .. } => self.clone(),
        })
    }

    /// The nested bodies of a control-flow primitive, in a fixed order.
    pub fn bodies(&self) -> Vec<&Body> {
        match self {
            Prim::Cond {
                then_body,
                else_body,
            } => vec![then_body, else_body],
            Prim::While {
                cond_body, body, ..
            } => vec![cond_body, body],
            Prim::Scan { body, .. } => vec![body],
            Prim::Unary(_)
            | Prim::Binary(_)
            | Prim::Compare(_)
            | Prim::Select
            | Prim::IntPow { .. }
            | Prim::Convert { .. }
            | Prim::StopGradient
            | Prim::Constant { .. }
            | Prim::Iota { .. }
            | Prim::BroadcastInDim { .. }
            | Prim::Reshape { .. }
            | Prim::Transpose { .. }
            | Prim::Slice { .. }
            | Prim::Pad { .. }
            | Prim::Concat { .. }
            | Prim::Rev { .. }
            | Prim::Reduce { .. }
            | Prim::ArgReduce { .. }
            | Prim::Cumulative { .. }
            | Prim::DotGeneral { .. }
            | Prim::Take { .. }
            | Prim::Scatter { .. }
            | Prim::DynamicSlice { .. }
            | Prim::DynamicUpdateSlice
            | Prim::Threefry2x32
            | Prim::BitsToUnit { .. } => Vec::new(),
        }
    }
}
