//! Evaluation errors and their conversion to user-facing diagnostics.

use std::fmt;

use nabla_diag::{Code, Diagnostic, Span};
use nabla_ir::ArrayError;

/// What went wrong while evaluating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EvalErrorKind {
    /// A result larger than `nabla_ir::array::MAX_ARRAY_BYTES`.
    AllocationTooLarge,
    /// Operands that verified IR never has (wrong arity, dtype or shape, an unbound
    /// variable): a bug in whatever produced the IR, or in the interpreter.
    Internal,
}

/// A failed evaluation, located at the equation that failed (the innermost one for
/// errors inside control-flow bodies); [`Span::DUMMY`] when no equation is involved.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalError {
    pub kind: EvalErrorKind,
    pub message: String,
    pub span: Span,
}

impl EvalError {
    pub fn internal(message: impl Into<String>) -> EvalError {
        EvalError {
            kind: EvalErrorKind::Internal,
            message: message.into(),
            span: Span::DUMMY,
        }
    }

    /// The diagnostic code this error is reported under.
    pub fn code(&self) -> Code {
        match self.kind {
            EvalErrorKind::AllocationTooLarge => Code::ALLOCATION_TOO_LARGE,
            EvalErrorKind::Internal => Code::INTERNAL,
        }
    }

    /// Locates the error at `span` unless a more precise location is already known.
    pub(crate) fn at(mut self, span: Span) -> EvalError {
        if self.span.is_dummy() {
            self.span = span;
        }
        self
    }
}

impl From<ArrayError> for EvalError {
    fn from(e: ArrayError) -> EvalError {
        let kind = match e {
            ArrayError::TooLarge { .. } => EvalErrorKind::AllocationTooLarge,
            // A data/shape length mismatch can only come from a wrong rule.
            ArrayError::LengthMismatch { .. } => EvalErrorKind::Internal,
        };
        EvalError {
            kind,
            message: e.to_string(),
            span: Span::DUMMY,
        }
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: {}", self.code().as_str(), self.message)
    }
}

impl std::error::Error for EvalError {}

impl From<EvalError> for Diagnostic {
    fn from(e: EvalError) -> Diagnostic {
        let label = match e.kind {
            EvalErrorKind::AllocationTooLarge => "this result is too large to allocate",
            EvalErrorKind::Internal => "while evaluating this",
        };
        let d = Diagnostic::error(e.code(), e.message).at(e.span, label);
        match e.kind {
            EvalErrorKind::AllocationTooLarge => d,
            EvalErrorKind::Internal => {
                d.hint("this is a bug in Nabla, not in your program: please report it")
            }
        }
    }
}
