//! Data movement: constants, iota, broadcast, reshape, transpose, slices, padding,
//! concatenation, reversal, gathers and scatters, dynamic slices.
//!
//! Reads are strided views of the operand (see [`crate::data`]); writes build the
//! result from a filled or copied array and store the pieces at strided positions.

use nabla_ir::dtype::numel;
use nabla_ir::shape::take_type;
use nabla_ir::{Array, DType, Data, Scalar, ScatterMode};

use crate::data::{
    dispatch, gather_data, indices, make, same, scalar_index, signed_strides, split_at_axis, view,
    write_data, Strided,
};
use crate::num::Elem;
use crate::EvalError;

pub(crate) fn iota(dtype: DType, shape: &[usize], axis: usize) -> Result<Array, EvalError> {
    let (_, len, step) = split_at_axis(shape, axis);
    // With any zero dimension there are no elements and the closure never runs, so
    // `step` and `len` are nonzero whenever it does.
    let values = (0..numel(shape)).map(|f| Scalar::I64(((f / step) % len) as i64));
    make(shape, Data::from_scalars(dtype, values))
}

pub(crate) fn broadcast_in_dim(
    x: &Array,
    shape: &[usize],
    dims: &[usize],
) -> Result<Array, EvalError> {
    let xs = signed_strides(x.shape());
    let mut st = vec![0isize; shape.len()];
    for (i, &d) in dims.iter().enumerate() {
        // A size-1 operand axis is broadcast: stride 0 repeats its only element.
        if x.shape()[i] != 1 {
            st[d] = xs[i];
        }
    }
    view(x, shape, 0, &st)
}

pub(crate) fn reshape(x: &Array, shape: &[usize]) -> Result<Array, EvalError> {
    Ok(x.reshaped(shape.to_vec())?)
}

pub(crate) fn transpose(x: &Array, perm: &[usize]) -> Result<Array, EvalError> {
    let xs = signed_strides(x.shape());
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape()[p]).collect();
    let st: Vec<isize> = perm.iter().map(|&p| xs[p]).collect();
    view(x, &shape, 0, &st)
}

pub(crate) fn slice(
    x: &Array,
    start: &[usize],
    limit: &[usize],
    stride: &[usize],
) -> Result<Array, EvalError> {
    let xs = signed_strides(x.shape());
    let mut offset = 0isize;
    let mut shape = Vec::with_capacity(xs.len());
    let mut st = Vec::with_capacity(xs.len());
    for i in 0..xs.len() {
        offset += start[i] as isize * xs[i];
        shape.push((limit[i] - start[i]).div_ceil(stride[i]));
        st.push(stride[i] as isize * xs[i]);
    }
    view(x, &shape, offset, &st)
}

pub(crate) fn rev(x: &Array, axes: &[usize]) -> Result<Array, EvalError> {
    let mut st = signed_strides(x.shape());
    let mut offset = 0isize;
    for &a in axes {
        let n = x.shape()[a];
        if n > 0 {
            offset += (n as isize - 1) * st[a];
        }
        st[a] = -st[a];
    }
    view(x, x.shape(), offset, &st)
}

/// Padding with negative widths crops: output index `o` on an axis holds operand index
/// `o - lo` when that is in range, the pad value otherwise.
pub(crate) fn pad(x: &Array, value: &Array, lo: &[i64], hi: &[i64]) -> Result<Array, EvalError> {
    let fill = value
        .to_scalar()
        .ok_or_else(|| EvalError::internal("pad value is not a scalar"))?;
    let out_shape = x
        .shape()
        .iter()
        .zip(lo.iter().zip(hi))
        .map(|(&n, (&l, &h))| usize::try_from(n as i128 + i128::from(l) + i128::from(h)))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| EvalError::internal("pad to a negative size"))?;
    let (xs, os) = (signed_strides(x.shape()), signed_strides(&out_shape));
    // The block of operand indices that lands inside the output, and where it lands;
    // i128 because the widths are arbitrary i64s.
    let mut region = Vec::with_capacity(x.rank());
    let (mut src_off, mut dst_off) = (0isize, 0isize);
    for i in 0..x.rank() {
        let (n, out_n, lo) = (
            x.shape()[i] as i128,
            out_shape[i] as i128,
            i128::from(lo[i]),
        );
        let first = (-lo).max(0);
        let end = n.min(out_n - lo);
        region.push((end - first).max(0) as usize);
        // Within the non-empty region `first < n` and `first + lo < out_n`.
        src_off += first.min(n) as isize * xs[i];
        dst_off += (first + lo).clamp(0, out_n) as isize * os[i];
    }
    let mut out = Array::full(out_shape, fill)?;
    if numel(&region) > 0 {
        let src = gather_data(x.data(), Strided::new(&region, src_off, &xs))?;
        write_data(out.data_mut(), &src, Strided::new(&region, dst_off, &os))?;
    }
    Ok(out)
}

pub(crate) fn concat(args: &[Array], axis: usize) -> Result<Array, EvalError> {
    let first = args
        .first()
        .ok_or_else(|| EvalError::internal("concat of no operands"))?;
    let mut shape = first.shape().to_vec();
    shape[axis] = args.iter().map(|a| a.shape()[axis]).sum();
    let os = signed_strides(&shape);
    let mut out = Array::zeros(&nabla_ir::Type::new(first.dtype(), shape))?;
    let mut at = 0usize;
    for a in args {
        let positions = Strided::new(a.shape(), at as isize * os[axis], &os);
        write_data(out.data_mut(), a.data(), positions)?;
        at += a.shape()[axis];
    }
    Ok(out)
}

/// Start indices clamped to `[0, dim - size]`, as XLA's dynamic_slice does.
fn clamped_offset(
    x_shape: &[usize],
    sizes: &[usize],
    starts: &[Array],
) -> Result<isize, EvalError> {
    let xs = signed_strides(x_shape);
    let mut offset = 0isize;
    for i in 0..x_shape.len() {
        let start = scalar_index(&starts[i])?;
        let max = (x_shape[i] - sizes[i]) as i64;
        offset += start.clamp(0, max) as isize * xs[i];
    }
    Ok(offset)
}

pub(crate) fn dynamic_slice(
    x: &Array,
    starts: &[Array],
    sizes: &[usize],
) -> Result<Array, EvalError> {
    let offset = clamped_offset(x.shape(), sizes, starts)?;
    view(x, sizes, offset, &signed_strides(x.shape()))
}

pub(crate) fn dynamic_update_slice(
    x: &Array,
    update: &Array,
    starts: &[Array],
) -> Result<Array, EvalError> {
    let offset = clamped_offset(x.shape(), update.shape(), starts)?;
    let positions = Strided::new(update.shape(), offset, &signed_strides(x.shape()));
    let mut out = x.clone();
    write_data(out.data_mut(), update.data(), positions)?;
    Ok(out)
}

/// Gathers along `axis` with indices clamped into `[0, n - 1]`. Gathering from an
/// empty axis has nothing to read: the (non-empty) result is zeros.
pub(crate) fn take(x: &Array, idx: &Array, axis: usize) -> Result<Array, EvalError> {
    let out_shape = take_type(&x.ty(), &idx.ty(), axis).shape;
    let (outer, n, inner) = split_at_axis(x.shape(), axis);
    if n == 0 {
        return Ok(Array::zeros(&nabla_ir::Type::new(x.dtype(), out_shape))?);
    }
    let ids = indices(idx.data())?;
    let ids = &ids;
    let last = n as i64 - 1;
    let positions = (0..outer).flat_map(move |o| {
        ids.iter().flat_map(move |&j| {
            let j = j.clamp(0, last) as usize;
            (0..inner).map(move |i| (o * n + j) * inner + i)
        })
    });
    make(&out_shape, gather_data(x.data(), positions)?)
}

/// Scatters `updates` (shaped like `take`'s result) along `axis`, visiting updates in
/// row-major order: out-of-range indices are dropped, `Set` keeps the last write, `Add`
/// accumulates in that order.
pub(crate) fn scatter(
    x: &Array,
    idx: &Array,
    updates: &Array,
    axis: usize,
    mode: ScatterMode,
) -> Result<Array, EvalError> {
    let (outer, n, inner) = split_at_axis(x.shape(), axis);
    let ids = indices(idx.data())?;
    let ids = &ids;
    let positions = (0..outer).flat_map(move |o| {
        ids.iter().flat_map(move |&j| {
            let j = usize::try_from(j).ok().filter(|&j| j < n);
            (0..inner).map(move |i| j.map(|j| (o * n + j) * inner + i))
        })
    });
    let mut out = x.clone();
    let u = updates.data();
    dispatch!(out.data_mut(), d => scatter_typed(d, same(u)?, positions, mode))?;
    Ok(out)
}

fn scatter_typed<T: Elem>(
    dst: &mut [T],
    updates: &[T],
    positions: impl Iterator<Item = Option<usize>>,
    mode: ScatterMode,
) -> Result<(), EvalError> {
    let combine: fn(T, T) -> T = match mode {
        ScatterMode::Set => |_, u| u,
        ScatterMode::Add => Elem::accumulate,
    };
    for (p, &u) in positions.zip(updates) {
        if let Some(p) = p {
            let slot = dst
                .get_mut(p)
                .ok_or_else(|| EvalError::internal("scatter position out of bounds"))?;
            *slot = combine(*slot, u);
        }
    }
    Ok(())
}
