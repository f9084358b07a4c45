//! Matrix products (`dot_general`) through a GEMM library.
