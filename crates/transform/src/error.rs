//! The one error type of every transform: a diagnostic code, a message and the span of
//! the equation it is about (the lowering crate turns it into a `Diagnostic`).

use std::fmt;

use nabla_diag::{Code, Diagnostic, Span};
use nabla_ir::TypeError;

#[derive(Clone, Debug, PartialEq)]
pub struct TransformError {
    pub code: Code,
    pub message: String,
    pub hint: Option<String>,
    pub span: Span,
}

pub type Result<T> = std::result::Result<T, TransformError>;

impl TransformError {
    pub fn new(code: Code, message: impl Into<String>) -> TransformError {
        TransformError {
            code,
            message: message.into(),
            hint: None,
            span: Span::DUMMY,
        }
    }

    /// A transform that is mathematically undefined here (reverse mode through `while`,
    /// the gradient of an integer function, …).
    pub fn not_differentiable(message: impl Into<String>) -> TransformError {
        TransformError::new(Code::NOT_DIFFERENTIABLE, message)
    }

    /// A combination the transforms do not handle (yet).
    pub fn unsupported(message: impl Into<String>) -> TransformError {
        TransformError::new(Code::TRANSFORM_UNSUPPORTED, message)
    }

    /// A broken invariant inside a transform: a bug, never the user's fault.
    pub fn internal(message: impl Into<String>) -> TransformError {
        TransformError::new(Code::INTERNAL, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> TransformError {
        self.hint = Some(hint.into());
        self
    }

    /// Attaches `span` unless a more precise one is already known.
    pub fn or_at(mut self, span: Span) -> TransformError {
        if self.span == Span::DUMMY {
            self.span = span;
        }
        self
    }

    pub fn to_diagnostic(&self) -> Diagnostic {
        let mut d = Diagnostic::error(self.code, self.message.clone());
        if self.span != Span::DUMMY {
            d = d.at(self.span, "");
        }
        if let Some(h) = &self.hint {
            d = d.hint(h.clone());
        }
        d
    }
}

impl From<TypeError> for TransformError {
    fn from(e: TypeError) -> TransformError {
        TransformError::internal(format!("a transform built an ill-typed equation: {}", e.0))
    }
}

impl fmt::Display for TransformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for TransformError {}
