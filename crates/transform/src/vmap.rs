//! Batching: the vmap rule of every primitive.

use nabla_ir::{Atom, Body, Func};

use crate::emit::Emitter;
use crate::error::{Result, TransformError};

/// `f` mapped over a batch of `size`: parameter `i` is batched along axis
/// `in_axes[i]` (`None`: not batched, shared by every batch element); result `j` is
/// returned with its batch axis at `out_axes[j]` (`None`: the result must not depend on
/// the batch, else an error).
pub fn vmap(
    f: &Func,
    in_axes: &[Option<usize>],
    size: usize,
    out_axes: &[Option<usize>],
) -> Result<Func> {
    let _ = (f, in_axes, size, out_axes);
    Err(TransformError::unsupported("vmap is not implemented yet"))
}

/// Emits the batched version of `body` applied to `args` (arg `i` batched along
/// `bdims[i]`) into `em`'s current body. Returns the results and their batch axes.
pub fn vmap_body(
    em: &mut Emitter,
    body: &Body,
    args: &[Atom],
    bdims: &[Option<usize>],
    size: usize,
) -> Result<(Vec<Atom>, Vec<Option<usize>>)> {
    let _ = (em, body, args, bdims, size);
    Err(TransformError::unsupported("vmap is not implemented yet"))
}
