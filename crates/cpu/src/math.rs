//! Vectorised math functions emitted inline as Cranelift IR.
