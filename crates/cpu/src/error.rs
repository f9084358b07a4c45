//! The CPU backend's error: what could not be compiled or run, as a diagnostic code and
//! message (the driver attaches the span of the equation).

use std::fmt;

use nabla_diag::{Code, Diagnostic, Span};

#[derive(Clone, Debug, PartialEq)]
pub struct CpuError {
    pub code: Code,
    pub message: String,
    pub span: Span,
}

pub type Result<T> = std::result::Result<T, CpuError>;

impl CpuError {
    /// An operation this backend does not compile (yet).
    pub fn unsupported(message: impl Into<String>) -> CpuError {
        CpuError {
            code: Code::BACKEND_UNSUPPORTED,
            message: message.into(),
            span: Span::DUMMY,
        }
    }

    /// A broken invariant: a bug in the backend.
    pub fn internal(message: impl Into<String>) -> CpuError {
        CpuError {
            code: Code::INTERNAL,
            message: message.into(),
            span: Span::DUMMY,
        }
    }

    pub fn at(mut self, span: Span) -> CpuError {
        if self.span == Span::DUMMY {
            self.span = span;
        }
        self
    }

    pub fn to_diagnostic(&self) -> Diagnostic {
        let d = Diagnostic::error(self.code, self.message.clone());
        if self.span == Span::DUMMY {
            d
        } else {
            d.at(self.span, "")
        }
    }
}

impl fmt::Display for CpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for CpuError {}
