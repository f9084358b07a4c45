//! Kernel IR → Cranelift IR → machine code.
