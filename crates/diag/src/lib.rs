//! Source files, spans and diagnostics shared by every stage of the Nabla compiler.
//!
//! Every error a user can cause — lexing, parsing, names, types and shapes, runtime
//! failures, backend failures — is a [`Diagnostic`] with a stable [`Code`], a message,
//! the source span(s) it is about and an optional hint. Rendering is delegated to
//! `codespan-reporting` so the output looks like rustc's.

use std::fmt;

mod codes;
pub use codes::Code;

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A byte range `start..end` in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span {
            file,
            start: start as u32,
            end: end as u32,
        }
    }

    /// The span covering both `self` and `other` (which must be in the same file).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// A placeholder for values that have no source location (built by the API).
    pub const DUMMY: Span = Span {
        file: FileId(u32::MAX),
        start: 0,
        end: 0,
    };

    pub fn is_dummy(&self) -> bool {
        self.file.0 == u32::MAX
    }
}

/// One source text known to the compiler.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

/// All source texts of a session, so spans can be rendered long after parsing.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        let text = text.into();
        let line_starts = codespan_reporting::files::line_starts(&text).collect();
        self.files.push(SourceFile {
            name: name.into(),
            text,
            line_starts,
        });
        FileId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// The text a span covers, or "" when the span is unknown.
    pub fn snippet(&self, span: Span) -> &str {
        self.get(span.file)
            .and_then(|f| f.text.get(span.start as usize..span.end as usize))
            .unwrap_or("")
    }

    /// 1-based (line, column) of a span's start.
    pub fn line_col(&self, span: Span) -> Option<(usize, usize)> {
        let f = self.get(span.file)?;
        let line = match f.line_starts.binary_search(&(span.start as usize)) {
            Ok(l) => l,
            Err(l) => l - 1,
        };
        Some((line + 1, span.start as usize - f.line_starts[line] + 1))
    }
}

impl<'a> codespan_reporting::files::Files<'a> for SourceMap {
    type FileId = FileId;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<&'a str, codespan_reporting::files::Error> {
        self.get(id)
            .map(|f| f.name.as_str())
            .ok_or(codespan_reporting::files::Error::FileMissing)
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, codespan_reporting::files::Error> {
        self.get(id)
            .map(|f| f.text.as_str())
            .ok_or(codespan_reporting::files::Error::FileMissing)
    }

    fn line_index(
        &'a self,
        id: FileId,
        byte_index: usize,
    ) -> Result<usize, codespan_reporting::files::Error> {
        let f = self
            .get(id)
            .ok_or(codespan_reporting::files::Error::FileMissing)?;
        Ok(match f.line_starts.binary_search(&byte_index) {
            Ok(l) => l,
            Err(l) => l - 1,
        })
    }

    fn line_range(
        &'a self,
        id: FileId,
        line_index: usize,
    ) -> Result<std::ops::Range<usize>, codespan_reporting::files::Error> {
        let f = self
            .get(id)
            .ok_or(codespan_reporting::files::Error::FileMissing)?;
        let start = *f.line_starts.get(line_index).ok_or(
            codespan_reporting::files::Error::LineTooLarge {
                given: line_index,
                max: f.line_starts.len() - 1,
            },
        )?;
        let end = f
            .line_starts
            .get(line_index + 1)
            .copied()
            .unwrap_or(f.text.len());
        Ok(start..end)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    Note,
}

/// A span with a message; the primary label marks where the problem is.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

/// A user-facing error or warning.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub hint: Option<String>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: Vec::new(),
            hint: None,
            notes: Vec::new(),
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    /// Adds the primary label (the place the error is about). Dummy spans are dropped.
    pub fn at(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        if !span.is_dummy() {
            self.labels.push(Label {
                span,
                message: message.into(),
                primary: true,
            });
        }
        self
    }

    /// Adds a secondary label (related context). Dummy spans are dropped.
    pub fn also(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        if !span.is_dummy() {
            self.labels.push(Label {
                span,
                message: message.into(),
                primary: false,
            });
        }
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// The first primary span, if any.
    pub fn primary_span(&self) -> Option<Span> {
        self.labels.iter().find(|l| l.primary).map(|l| l.span)
    }

    /// Gives a diagnostic that has no location yet the span `span` (used when an error
    /// raised deep inside a library is reported at the call site).
    pub fn or_at(self, span: Span) -> Diagnostic {
        if self.labels.is_empty() {
            self.at(span, "")
        } else {
            self
        }
    }

    fn to_codespan(&self) -> codespan_reporting::diagnostic::Diagnostic<FileId> {
        use codespan_reporting::diagnostic as cs;
        let severity = match self.severity {
            Severity::Error => cs::Severity::Error,
            Severity::Warning => cs::Severity::Warning,
            Severity::Note => cs::Severity::Note,
        };
        let labels = self
            .labels
            .iter()
            .map(|l| {
                let style = if l.primary {
                    cs::LabelStyle::Primary
                } else {
                    cs::LabelStyle::Secondary
                };
                cs::Label::new(
                    style,
                    l.span.file,
                    l.span.start as usize..l.span.end as usize,
                )
                .with_message(l.message.clone())
            })
            .collect();
        let mut notes = self.notes.clone();
        if let Some(h) = &self.hint {
            notes.push(format!("hint: {h}"));
        }
        cs::Diagnostic::new(severity)
            .with_code(self.code.as_str())
            .with_message(self.message.clone())
            .with_labels(labels)
            .with_notes(notes)
    }
}

impl fmt::Display for Diagnostic {
    /// A one-line form (`error[E0401]: message`), for logs and `Result` debugging.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        write!(f, "{sev}[{}]: {}", self.code.as_str(), self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// Renders diagnostics as plain text (no colour), the way the CLI prints them.
pub fn render(sources: &SourceMap, diagnostics: &[Diagnostic]) -> String {
    let config = codespan_reporting::term::Config::default();
    let mut out = String::new();
    for d in diagnostics {
        let cs = d.to_codespan();
        if codespan_reporting::term::emit_to_string(&mut out, &config, sources, &cs).is_err() {
            // A span pointing outside its file: still report the message itself.
            out.push_str(&format!("{d}\n"));
        }
    }
    out
}

/// A collection of diagnostics from one compilation step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Diagnostics {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// The name closest to `name` among `candidates` (Levenshtein distance at most a third
/// of the name's length, at least 1), for "did you mean" hints.
pub fn closest_name<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_code_label_and_hint() {
        let mut sm = SourceMap::new();
        let f = sm.add("t.nbl", "let y = x @ w\n");
        let d = Diagnostic::error(Code::SHAPE_MISMATCH, "x @ w: shapes differ")
            .at(Span::new(f, 8, 13), "here")
            .hint("transpose w");
        let text = render(&sm, &[d]);
        assert!(text.contains("error[E0401]"), "{text}");
        assert!(text.contains("t.nbl:1:9"), "{text}");
        assert!(text.contains("hint: transpose w"), "{text}");
    }

    #[test]
    fn closest_name_suggests_near_misses_only() {
        assert_eq!(closest_name("sumn", ["sum", "mean", "max"]), Some("sum"));
        assert_eq!(closest_name("zzzz", ["sum", "mean"]), None);
        assert_eq!(closest_name("lg", ["log", "exp"]), Some("log"));
    }

    #[test]
    fn line_col_is_one_based() {
        let mut sm = SourceMap::new();
        let f = sm.add("a", "ab\ncd\n");
        assert_eq!(sm.line_col(Span::new(f, 4, 5)), Some((2, 2)));
    }
}
