//! The pass pipeline: a list of named passes, with the verifier after each one in
//! debug and test builds.
