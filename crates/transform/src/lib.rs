//! IR-to-IR transforms of Nabla functions, composable to any depth as in JAX.
//!
//! Every transform takes closed, typed [`Func`]s and returns new ones that any backend
//! runs; nothing here knows the syntax tree or a backend.
//!
//! - [`jvp`] — forward mode: a rule per primitive, symbolic zeros for inactive tangents.
//! - [`linearize`] — jvp followed by partial evaluation: a primal function that also
//!   returns residuals, and a linear function of the tangents that consumes them.
//! - [`transpose`] — the transpose of a linear function: a rule per linear primitive.
//! - [`vjp`] / [`grad`] — reverse mode, built as linearize + transpose.
//! - [`vmap`] — batching: a rule per primitive, moving batch axes only when needed.
//! - [`simplify`] — DCE, CSE, constant folding and algebraic identities; [`pipeline`]
//!   runs named passes with the verifier after each one in debug and test builds.
//!
//! Conventions shared by all modules (see `docs/transforms.md`):
//! - a function's parameters and results are flat lists of arrays (tuples are
//!   flattened by the lowering crate before a transform sees them);
//! - new equations inherit the span of the equation they come from;
//! - every rule is an exhaustive `match` on [`nabla_ir::Prim`] with no catch-all arm.

pub mod emit;
pub mod error;
pub mod jvp;
pub mod linearize;
pub mod pipeline;
pub mod simplify;
pub mod transpose;
pub mod vjp;
pub mod vmap;

pub use error::{Result, TransformError};
pub use jvp::jvp;
pub use linearize::{linearize, partial_eval, Linearized, PartialEval};
pub use simplify::simplify;
pub use transpose::transpose;
pub use vjp::{grad, vjp, Vjp};
pub use vmap::vmap;
