//! Array I/O for embedders and the runtime: `.npy` and CSV files in, `.npy` out, and
//! NumPy-style text printing of arrays; plus the one error type all of it reports.
//!
//! Errors carry the path they are about but no source span: the interpreter knows which
//! call in the script asked for the file and attaches the span with
//! [`IoError::to_diagnostic`].

pub mod csv;
pub mod format;
pub mod npy;

use std::fmt;
use std::path::{Path, PathBuf};

use nabla_diag::{Code, Diagnostic, Span};

pub use self::csv::{read_csv, read_csv_str};
pub use self::format::{format_array, format_scalar};
pub use self::npy::{read_npy, read_npy_bytes, write_npy, write_npy_bytes};

/// What went wrong, coarsely: it picks the diagnostic code and the hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoErrorKind {
    /// The file (or, when writing, its folder) does not exist.
    NotFound,
    /// Any other failure of the operating system: permissions, a full disk, a folder
    /// where a file was expected.
    Io,
    /// The file is not a `.npy` file Nabla can read: malformed, truncated, or of an
    /// unsupported dtype.
    BadNpy,
    /// The file is not a rectangular table of numbers.
    BadCsv,
}

/// An error reading or writing an array file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoError {
    pub kind: IoErrorKind,
    /// What is wrong, without the path (Display adds it).
    pub message: String,
    /// The file concerned; empty for in-memory input such as [`read_npy_bytes`].
    pub path: PathBuf,
}

impl IoError {
    pub fn new(kind: IoErrorKind, message: impl Into<String>) -> IoError {
        IoError {
            kind,
            message: message.into(),
            path: PathBuf::new(),
        }
    }

    /// The same error, about `path` (parsers work on bytes and learn the path late).
    pub fn with_path(mut self, path: &Path) -> IoError {
        self.path = path.to_path_buf();
        self
    }

    /// Translates an operating-system error; `doing` completes "could not …".
    pub(crate) fn from_os(err: &std::io::Error, path: &Path, doing: &str) -> IoError {
        let kind = match err.kind() {
            std::io::ErrorKind::NotFound => IoErrorKind::NotFound,
            _ => IoErrorKind::Io,
        };
        let message = match kind {
            IoErrorKind::NotFound if doing.starts_with("write") => {
                format!("could not {doing}: its folder does not exist")
            }
            IoErrorKind::NotFound => format!("could not {doing}: no such file"),
            _ => format!("could not {doing}: {}", os_message(err)),
        };
        IoError::new(kind, message).with_path(path)
    }

    /// The diagnostic to show for this error, pointing at `span` (the call that read or
    /// wrote the file).
    pub fn to_diagnostic(&self, span: Span) -> Diagnostic {
        let (code, label) = match self.kind {
            IoErrorKind::NotFound => (Code::IO_ERROR, "file not found"),
            IoErrorKind::Io => (Code::IO_ERROR, "file could not be accessed"),
            IoErrorKind::BadNpy => (Code::BAD_NPY, "not a readable .npy file"),
            IoErrorKind::BadCsv => (Code::BAD_CSV, "not a table of numbers"),
        };
        Diagnostic::error(code, self.to_string())
            .at(span, label)
            .hint(self.hint())
    }

    fn hint(&self) -> String {
        match self.kind {
            // The path here is the one opened, after any resolution against a script's
            // folder; if it is still relative, the process's directory decides, and
            // that is the usual surprise when a script is run from elsewhere.
            IoErrorKind::NotFound if self.path.is_relative() => match std::env::current_dir() {
                Ok(cwd) => format!(
                    "check the path; it is relative to the current directory, `{}`",
                    cwd.display()
                ),
                Err(_) => "check the path; it is relative to the current directory".into(),
            },
            IoErrorKind::NotFound => "check the path".into(),
            IoErrorKind::Io => {
                "check that the path names a file and that its permissions allow this".into()
            }
            IoErrorKind::BadNpy => format!(
                "Nabla reads .npy files (as written by `np.save`) of dtype {}; \
                 in NumPy, `np.save(path, a.astype(np.float64))` converts other dtypes",
                npy::SUPPORTED_DTYPES
            ),
            IoErrorKind::BadCsv => {
                "Nabla reads CSV files of numbers separated by commas, one row per line \
                 and the same number of columns on every line; a header line, blank lines \
                 and `#` comments are skipped"
                    .into()
            }
        }
    }
}

impl fmt::Display for IoError {
    /// `data/x.npy: unsupported dtype …`, or just the message when there is no path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.as_os_str().is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path.display(), self.message)
        }
    }
}

impl std::error::Error for IoError {}

/// The OS message without Rust's ` (os error 13)` suffix, which means nothing to users.
fn os_message(err: &std::io::Error) -> String {
    let s = err.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}
