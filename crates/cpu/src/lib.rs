//! The CPU backend: IR functions become fused loop nests compiled to native code with
//! Cranelift, run in parallel with rayon, with reductions whose order — and so whose
//! bits — does not depend on the number of threads.
//!
//! - [`kernel`] — the kernel IR (one fused loop nest), the planner/codegen contract.
//! - [`codegen`] — kernel IR → Cranelift IR → machine code (SIMD inner loops).
//! - [`cipher`] — Threefry words for runs of counters, ahead of a kernel's loop, in
//!   the host's widest vectors.
//! - [`jit`] — the JIT modules and the one checked entry into generated code.
//! - [`exec`] — running a compiled kernel on arrays across threads, and finishing
//!   reductions in the canonical block order.
//! - [`reference`] — a kernel's meaning as an IR function, for testing against the
//!   interpreter.
//! - [`math`] — vectorised polynomial kernels for `exp`, `log`, `sin`, … emitted inline.
//! - [`gemm`] — matrix products through a GEMM library.
//! - [`native`] — the primitives that are not fused kernels as Rust loops: concat,
//!   running sums, gathers, pads, scatters, argmax/argmin, compensated sums and dots.
//! - [`eqn`] — which of those (or the GEMM library) runs a non-kernel step.
//! - [`control`] — cond, while and scan with compiled bodies.
//! - [`frame`] — loop bodies laid out in one block of memory, run without allocating.
//! - [`rewrite`] — IR rewrites before planning (transposed product operands read in
//!   place, uncontracted products as multiplies).
//! - [`plan`] — the fusion planner: IR function → program of kernels and steps.
//! - [`rowpass`] — `X @ w`, the per-row kernels using it and `c @ X` in one pass over
//!   `X`.
//! - [`program`] — a planned function compiled and run step by step.
//! - [`error`] — what could not be compiled or run.

pub mod cipher;
pub mod codegen;
pub mod control;
pub mod eqn;
pub mod error;
pub mod exec;
pub mod fold;
pub mod frame;
pub mod gemm;
pub mod jit;
pub mod kernel;
pub mod math;
pub mod native;
pub mod plan;
pub mod program;
pub mod reference;
pub mod rewrite;
pub mod rowpass;
pub mod simd;
