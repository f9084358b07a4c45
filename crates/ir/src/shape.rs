//! Type and shape inference: the result types of each primitive from its operand types.
//!
//! The tracer reports user-facing shape errors (with spans and both shapes) before it
//! emits; these checks are the IR's own invariants, shared by the builder, the verifier
//! and every transform.

use std::fmt;

use crate::dtype::{numel, DType, Type};
use crate::prim::{BinaryOp, Prim, UnaryOp};

/// An operand type the primitive does not accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeError(pub String);

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TypeError {}

macro_rules! bail {
    ($($t:tt)*) => { return Err(TypeError(format!($($t)*))) };
}

fn arity(prim: &Prim, args: &[Type], n: usize) -> Result<(), TypeError> {
    if args.len() != n {
        bail!("{} takes {n} operand(s), got {}", prim.name(), args.len());
    }
    Ok(())
}

fn same_types(prim: &Prim, a: &Type, b: &Type) -> Result<(), TypeError> {
    if a != b {
        bail!("{} operands differ: {a} and {b}", prim.name());
    }
    Ok(())
}

fn check_axes(prim: &Prim, axes: &[usize], rank: usize) -> Result<(), TypeError> {
    let mut seen = vec![false; rank];
    for &a in axes {
        if a >= rank || seen[a] {
            bail!("{}: axes {axes:?} invalid for rank {rank}", prim.name());
        }
        seen[a] = true;
    }
    Ok(())
}

fn is_int(d: DType) -> bool {
    d.is_int()
}

/// The result types of `prim` applied to operands of types `args`.
pub fn infer(prim: &Prim, args: &[Type]) -> Result<Vec<Type>, TypeError> {
    check_overflow(prim, args)?;
    rules(prim, args)
}

/// Rejects the parameters whose size arithmetic in the rules would overflow: shapes
/// and widths come from user input (the parser, the verifier, the language's `pad`),
/// which must get an error rather than a panic.
fn check_overflow(prim: &Prim, args: &[Type]) -> Result<(), TypeError> {
    let overflow = || Err(TypeError(format!("{}: sizes overflow", prim.name())));
    match prim {
        Prim::Pad { lo, hi } => {
            if let Some(x) = args.first() {
                for ((&d, &l), &h) in x.shape.iter().zip(lo).zip(hi) {
                    // Mirrors `infer`'s `d as i64 + lo + hi`, evaluated left to right.
                    if (d as i64)
                        .checked_add(l)
                        .and_then(|n| n.checked_add(h))
                        .is_none()
                    {
                        return overflow();
                    }
                }
            }
        }
        Prim::Concat { axis } => {
            let mut total = 0usize;
            for a in args {
                if let Some(&d) = a.shape.get(*axis) {
                    match total.checked_add(d) {
                        Some(t) => total = t,
                        None => return overflow(),
                    }
                }
            }
        }
        Prim::While {
            cond_nconsts,
            body_nconsts,
            ..
        } => {
            if cond_nconsts.checked_add(*body_nconsts).is_none() {
                return overflow();
            }
        }
        Prim::Scan {
            nconsts, ncarry, ..
        } => {
            if nconsts.checked_add(*ncarry).is_none() {
                return overflow();
            }
        }
        // The remaining rules only index after checking bounds and use saturating or
        // checked-before-subtracting arithmetic.
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
        | Prim::BitsToUnit { .. }
        | Prim::Cond { .. } => {}
    }
    Ok(())
}

fn rules(prim: &Prim, args: &[Type]) -> Result<Vec<Type>, TypeError> {
    let one = |t: Type| Ok(vec![t]);
    match prim {
        Prim::Unary(op) => {
            arity(prim, args, 1)?;
            let x = &args[0];
            if op.float_only() && !x.dtype.is_float() {
                bail!("{} needs a float operand, got {x}", op.name());
            }
            match op {
                UnaryOp::IsNan | UnaryOp::IsFinite => one(x.with_dtype(DType::Bool)),
                UnaryOp::Not => {
                    if x.dtype.is_float() {
                        bail!("not needs a bool or integer operand, got {x}");
                    }
                    one(x.clone())
                }
                UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign => {
                    if x.dtype == DType::Bool {
                        bail!("{} needs a numeric operand, got {x}", op.name());
                    }
                    one(x.clone())
                }
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
                | UnaryOp::Round => one(x.clone()),
            }
        }
        Prim::Binary(op) => {
            arity(prim, args, 2)?;
            same_types(prim, &args[0], &args[1])?;
            let d = args[0].dtype;
            let ok = match op {
                BinaryOp::Add
                | BinaryOp::Sub
                | BinaryOp::Mul
                | BinaryOp::Div
                | BinaryOp::Rem
                | BinaryOp::Max
                | BinaryOp::Min => d != DType::Bool || matches!(op, BinaryOp::Max | BinaryOp::Min),
                BinaryOp::Pow | BinaryOp::Atan2 => d.is_float(),
                BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => !d.is_float(),
                BinaryOp::ShiftLeft | BinaryOp::ShiftRightLogical => is_int(d),
            };
            if !ok {
                bail!("{} does not accept {d} operands", op.name());
            }
            one(args[0].clone())
        }
        Prim::Compare(_) => {
            arity(prim, args, 2)?;
            same_types(prim, &args[0], &args[1])?;
            one(args[0].with_dtype(DType::Bool))
        }
        Prim::Select => {
            arity(prim, args, 3)?;
            if args[0].dtype != DType::Bool || args[0].shape != args[1].shape {
                bail!(
                    "select predicate must be bool of the operands' shape, got {}",
                    args[0]
                );
            }
            same_types(prim, &args[1], &args[2])?;
            one(args[1].clone())
        }
        Prim::IntPow { .. } => {
            arity(prim, args, 1)?;
            if args[0].dtype == DType::Bool {
                bail!("integer_pow needs a numeric operand");
            }
            one(args[0].clone())
        }
        Prim::Convert { dtype } => {
            arity(prim, args, 1)?;
            one(args[0].with_dtype(*dtype))
        }
        Prim::StopGradient => {
            arity(prim, args, 1)?;
            one(args[0].clone())
        }
        Prim::Constant { value } => {
            arity(prim, args, 0)?;
            one(value.ty())
        }
        Prim::Iota { dtype, shape, axis } => {
            arity(prim, args, 0)?;
            if *axis >= shape.len() || *dtype == DType::Bool {
                bail!("iota axis {axis} / dtype {dtype} invalid for shape {shape:?}");
            }
            one(Type::new(*dtype, shape.clone()))
        }
        Prim::BroadcastInDim { shape, dims } => {
            arity(prim, args, 1)?;
            let x = &args[0];
            if dims.len() != x.rank() {
                bail!("broadcast_in_dim: {} dims for operand {x}", dims.len());
            }
            for (i, &d) in dims.iter().enumerate() {
                if d >= shape.len() || (i > 0 && dims[i - 1] >= d) {
                    bail!("broadcast_in_dim: dims {dims:?} invalid for shape {shape:?}");
                }
                if x.shape[i] != 1 && x.shape[i] != shape[d] {
                    bail!("broadcast_in_dim: {x} cannot broadcast to {shape:?}");
                }
            }
            one(Type::new(x.dtype, shape.clone()))
        }
        Prim::Reshape { shape } => {
            arity(prim, args, 1)?;
            if numel(shape) != args[0].numel() {
                bail!(
                    "reshape of {} to {shape:?} changes the element count",
                    args[0]
                );
            }
            one(Type::new(args[0].dtype, shape.clone()))
        }
        Prim::Transpose { perm } => {
            arity(prim, args, 1)?;
            let x = &args[0];
            if perm.len() != x.rank() {
                bail!("transpose: permutation {perm:?} for {x}");
            }
            check_axes(prim, perm, x.rank())?;
            one(Type::new(
                x.dtype,
                perm.iter().map(|&p| x.shape[p]).collect::<Vec<_>>(),
            ))
        }
        Prim::Slice {
            start,
            limit,
            stride,
        } => {
            arity(prim, args, 1)?;
            let x = &args[0];
            let r = x.rank();
            if start.len() != r || limit.len() != r || stride.len() != r {
                bail!("slice: parameter lengths do not match {x}");
            }
            let mut shape = Vec::with_capacity(r);
            for i in 0..r {
                if start[i] > limit[i] || limit[i] > x.shape[i] || stride[i] == 0 {
                    bail!("slice {start:?}..{limit:?} step {stride:?} out of bounds for {x}");
                }
                shape.push((limit[i] - start[i]).div_ceil(stride[i]));
            }
            one(Type::new(x.dtype, shape))
        }
        Prim::Pad { lo, hi } => {
            arity(prim, args, 2)?;
            let x = &args[0];
            if args[1].rank() != 0 || args[1].dtype != x.dtype {
                bail!("pad value must be a {} scalar, got {}", x.dtype, args[1]);
            }
            if lo.len() != x.rank() || hi.len() != x.rank() {
                bail!("pad: widths do not match {x}");
            }
            let mut shape = Vec::with_capacity(x.rank());
            for i in 0..x.rank() {
                let n = x.shape[i] as i64 + lo[i] + hi[i];
                if n < 0 {
                    bail!("pad: negative size on axis {i}");
                }
                shape.push(n as usize);
            }
            one(Type::new(x.dtype, shape))
        }
        Prim::Concat { axis } => {
            if args.is_empty() {
                bail!("concat of no operands");
            }
            let first = &args[0];
            if *axis >= first.rank() {
                bail!("concat axis {axis} out of range for {first}");
            }
            let mut shape = first.shape.clone();
            shape[*axis] = 0;
            for a in args {
                let compatible = a.dtype == first.dtype
                    && a.rank() == first.rank()
                    && (0..a.rank()).all(|i| i == *axis || a.shape[i] == first.shape[i]);
                if !compatible {
                    bail!("concat operands {first} and {a} differ off axis {axis}");
                }
                shape[*axis] += a.shape[*axis];
            }
            one(Type::new(first.dtype, shape))
        }
        Prim::Rev { axes } => {
            arity(prim, args, 1)?;
            check_axes(prim, axes, args[0].rank())?;
            one(args[0].clone())
        }
        Prim::Reduce {
            op,
            axes,
            compensated,
        } => {
            use crate::prim::ReduceOp;
            arity(prim, args, 1)?;
            let x = &args[0];
            check_axes(prim, axes, x.rank())?;
            let ok = match op {
                ReduceOp::And | ReduceOp::Or => x.dtype == DType::Bool,
                ReduceOp::Sum | ReduceOp::Prod => x.dtype != DType::Bool,
                ReduceOp::Max | ReduceOp::Min => true,
            };
            if !ok || (*compensated && !(matches!(op, ReduceOp::Sum) && x.dtype.is_float())) {
                bail!("{} does not accept {x}", op.name());
            }
            let shape: Vec<usize> = (0..x.rank())
                .filter(|i| !axes.contains(i))
                .map(|i| x.shape[i])
                .collect();
            one(Type::new(x.dtype, shape))
        }
        Prim::ArgReduce {
            axis, index_dtype, ..
        } => {
            arity(prim, args, 1)?;
            let x = &args[0];
            if *axis >= x.rank() || x.shape[*axis] == 0 || !index_dtype.is_int() {
                bail!("{}: axis {axis} invalid for {x}", prim.name());
            }
            let mut shape = x.shape.clone();
            shape.remove(*axis);
            one(Type::new(*index_dtype, shape))
        }
        Prim::Cumulative { axis, .. } => {
            arity(prim, args, 1)?;
            if *axis >= args[0].rank() || args[0].dtype == DType::Bool {
                bail!("{}: axis {axis} invalid for {}", prim.name(), args[0]);
            }
            one(args[0].clone())
        }
        Prim::DotGeneral {
            lhs_contract,
            rhs_contract,
            lhs_batch,
            rhs_batch,
            compensated,
        } => {
            arity(prim, args, 2)?;
            let (l, r) = (&args[0], &args[1]);
            if l.dtype != r.dtype || l.dtype == DType::Bool {
                bail!("dot_general operands {l} and {r} must share a numeric dtype");
            }
            if *compensated && !l.dtype.is_float() {
                bail!("compensated dot_general needs floats");
            }
            if lhs_contract.len() != rhs_contract.len() || lhs_batch.len() != rhs_batch.len() {
                bail!("dot_general: unpaired contracting or batch axes");
            }
            let lhs_used: Vec<usize> = lhs_contract.iter().chain(lhs_batch).copied().collect();
            let rhs_used: Vec<usize> = rhs_contract.iter().chain(rhs_batch).copied().collect();
            check_axes(prim, &lhs_used, l.rank())?;
            check_axes(prim, &rhs_used, r.rank())?;
            for (a, b) in lhs_contract
                .iter()
                .zip(rhs_contract)
                .chain(lhs_batch.iter().zip(rhs_batch))
            {
                if l.shape[*a] != r.shape[*b] {
                    bail!("dot_general: {l} axis {a} and {r} axis {b} differ");
                }
            }
            let mut shape: Vec<usize> = lhs_batch.iter().map(|&a| l.shape[a]).collect();
            shape.extend(
                (0..l.rank())
                    .filter(|i| !lhs_used.contains(i))
                    .map(|i| l.shape[i]),
            );
            shape.extend(
                (0..r.rank())
                    .filter(|i| !rhs_used.contains(i))
                    .map(|i| r.shape[i]),
            );
            one(Type::new(l.dtype, shape))
        }
        Prim::Take { axis } => {
            arity(prim, args, 2)?;
            let (x, idx) = (&args[0], &args[1]);
            if *axis >= x.rank() || !idx.dtype.is_int() {
                bail!("take: axis {axis} / indices {idx} invalid for {x}");
            }
            one(take_type(x, idx, *axis))
        }
        Prim::Scatter { axis, .. } => {
            arity(prim, args, 3)?;
            let (x, idx, upd) = (&args[0], &args[1], &args[2]);
            if *axis >= x.rank() || !idx.dtype.is_int() {
                bail!("scatter: axis {axis} / indices {idx} invalid for {x}");
            }
            let want = take_type(x, idx, *axis);
            if *upd != want {
                bail!("scatter: updates are {upd}, expected {want}");
            }
            one(x.clone())
        }
        Prim::DynamicSlice { sizes } => {
            let x = &args
                .first()
                .ok_or_else(|| TypeError("dynamic_slice of nothing".into()))?;
            arity(prim, args, 1 + x.rank())?;
            if sizes.len() != x.rank() || sizes.iter().zip(&x.shape).any(|(s, d)| s > d) {
                bail!("dynamic_slice sizes {sizes:?} invalid for {x}");
            }
            if args[1..].iter().any(|t| t.rank() != 0 || !t.dtype.is_int()) {
                bail!("dynamic_slice starts must be integer scalars");
            }
            one(Type::new(x.dtype, sizes.clone()))
        }
        Prim::DynamicUpdateSlice => {
            if args.len() < 2 {
                bail!("dynamic_update_slice needs an operand and an update");
            }
            let (x, upd) = (&args[0], &args[1]);
            arity(prim, args, 2 + x.rank())?;
            if upd.dtype != x.dtype
                || upd.rank() != x.rank()
                || upd.shape.iter().zip(&x.shape).any(|(u, d)| u > d)
            {
                bail!("dynamic_update_slice: update {upd} does not fit {x}");
            }
            if args[2..].iter().any(|t| t.rank() != 0 || !t.dtype.is_int()) {
                bail!("dynamic_update_slice starts must be integer scalars");
            }
            one(x.clone())
        }
        Prim::Threefry2x32 => {
            arity(prim, args, 4)?;
            if args
                .iter()
                .any(|a| *a != Type::new(DType::U32, args[0].shape.clone()))
            {
                bail!("threefry2x32 operands must be u32 of one shape");
            }
            Ok(vec![args[0].clone(), args[0].clone()])
        }
        Prim::BitsToUnit { dtype } => {
            let n = match dtype {
                DType::F32 => 1,
                DType::F64 => 2,
                DType::Bool | DType::I32 | DType::I64 | DType::U32 => {
                    bail!("bits_to_unit makes floats, not {dtype}")
                }
            };
            arity(prim, args, n)?;
            if args
                .iter()
                .any(|a| *a != Type::new(DType::U32, args[0].shape.clone()))
            {
                bail!("bits_to_unit operands must be u32 of one shape");
            }
            one(args[0].with_dtype(*dtype))
        }
        Prim::Cond {
            then_body,
            else_body,
        } => {
            if args.is_empty() || args[0] != Type::scalar(DType::Bool) {
                bail!("cond needs a bool scalar predicate first");
            }
            let ops = &args[1..];
            if then_body.param_types() != ops || else_body.param_types() != ops {
                bail!("cond bodies' parameters do not match the operands");
            }
            let t = then_body.result_types();
            if t != else_body.result_types() {
                bail!("cond branches return different types");
            }
            Ok(t)
        }
        Prim::While {
            cond_body,
            body,
            cond_nconsts,
            body_nconsts,
        } => {
            let nc = cond_nconsts + body_nconsts;
            if args.len() < nc {
                bail!("while: fewer operands than constants");
            }
            let carry = &args[nc..];
            let cond_params: Vec<Type> =
                args[..*cond_nconsts].iter().chain(carry).cloned().collect();
            let body_params: Vec<Type> = args[*cond_nconsts..].to_vec();
            if cond_body.param_types() != cond_params || body.param_types() != body_params {
                bail!("while bodies' parameters do not match the operands");
            }
            if cond_body.result_types() != vec![Type::scalar(DType::Bool)] {
                bail!("while condition must return a bool scalar");
            }
            if body.result_types() != carry {
                bail!("while body changes the carry's types");
            }
            Ok(carry.to_vec())
        }
        Prim::Scan {
            body,
            nconsts,
            ncarry,
            length,
            ..
        } => {
            if args.len() < nconsts + ncarry {
                bail!("scan: fewer operands than constants and carries");
            }
            let xs = &args[nconsts + ncarry..];
            let mut params: Vec<Type> = args[..nconsts + ncarry].to_vec();
            for x in xs {
                if x.rank() == 0 || x.shape[0] != *length {
                    bail!("scan: xs operand {x} does not have leading length {length}");
                }
                params.push(Type::new(x.dtype, x.shape[1..].to_vec()));
            }
            if body.param_types() != params {
                bail!("scan body parameters do not match the operands");
            }
            let res = body.result_types();
            if res.len() < *ncarry || res[..*ncarry] != args[*nconsts..nconsts + ncarry] {
                bail!("scan body changes the carry's types");
            }
            let mut out: Vec<Type> = res[..*ncarry].to_vec();
            for y in &res[*ncarry..] {
                let mut shape = vec![*length];
                shape.extend(&y.shape);
                out.push(Type::new(y.dtype, shape));
            }
            Ok(out)
        }
    }
}

/// The result type of gathering `idx` along `axis` of `x`.
pub fn take_type(x: &Type, idx: &Type, axis: usize) -> Type {
    let mut shape: Vec<usize> = x.shape[..axis].to_vec();
    shape.extend(&idx.shape);
    shape.extend(&x.shape[axis + 1..]);
    Type::new(x.dtype, shape)
}
