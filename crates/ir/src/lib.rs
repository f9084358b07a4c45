//! Nabla's typed first-order IR: dtypes and shapes, concrete arrays, the closed set of
//! primitives, equations in A-normal form with closed nested bodies for control flow,
//! the builder, type inference, the verifier, the canonical reduction order, and the
//! textual printer and parser.
//!
//! This crate knows nothing of the surface syntax, of transforms or of backends.

pub mod array;
pub mod canonical;
pub mod dtype;
pub mod ir;
pub mod parse;
pub mod prim;
pub mod print;
pub mod shape;
pub mod special;
pub mod threefry;
pub mod verify;

pub use array::{Array, ArrayError, Data};
pub use dtype::{DType, Scalar, Type};
pub use ir::{Atom, Body, Builder, Eqn, Func, Var};
pub use parse::{parse_body, parse_func, ParseError};
pub use prim::{ArgOp, BinaryOp, CmpOp, CumOp, Prim, ReduceOp, ScatterMode, UnaryOp};
pub use print::{print_body, print_eqn, print_func};
pub use shape::{infer, TypeError};
pub use verify::{self_check, verify_body, verify_func, VerifyError};
