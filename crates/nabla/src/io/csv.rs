//! CSV files read as 2-D float64 arrays, the way `np.loadtxt(path, delimiter=",",
//! ndmin=2)` reads them, except that a header line of column names is skipped.
//!
//! Rules: `#` starts a comment that runs to the end of the line; lines that are blank
//! once comments are removed are skipped; fields may be surrounded by spaces; `nan`,
//! `inf` and `-inf` (any case, also `infinity`) are numbers; the first non-blank line is
//! a header, and skipped, when none of its fields is a number; every row must have the
//! same number of fields. Quoting is not supported, as in `np.loadtxt`.

use std::path::Path;

use nabla_ir::Array;

use super::{IoError, IoErrorKind};

/// Reads a CSV file of numbers into a float64 array of shape `[rows, columns]`.
pub fn read_csv(path: &Path) -> Result<Array, IoError> {
    let bytes = std::fs::read(path).map_err(|e| IoError::from_os(&e, path, "read the file"))?;
    let text = decode_text(&bytes).map_err(|e| e.with_path(path))?;
    read_csv_str(text).map_err(|e| e.with_path(path))
}

/// Parses CSV text held in memory; see [`read_csv`].
pub fn read_csv_str(text: &str) -> Result<Array, IoError> {
    // Spreadsheet programs often start UTF-8 files with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut values = Vec::new();
    let mut header_cols = None;
    // (line number, column count) of the first data row, for the ragged-row message.
    let mut first_row: Option<(usize, usize)> = None;
    let mut rows = 0usize;
    for (i, line) in lines(text).enumerate() {
        let line_no = i + 1;
        let content = line.split('#').next().unwrap_or("");
        if content.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = content.split(',').collect();
        if first_row.is_none()
            && header_cols.is_none()
            && fields.iter().all(|f| parse_number(f).is_none())
        {
            header_cols = Some(fields.len());
            continue;
        }
        match first_row {
            None => first_row = Some((line_no, fields.len())),
            Some((first_line, cols)) if cols != fields.len() => {
                return Err(bad(format!(
                    "line {line_no} has {} but line {first_line}, the first row of data, has \
                     {}; every row needs the same number of columns",
                    plural(fields.len(), "column"),
                    plural(cols, "column"),
                )));
            }
            Some(_) => {}
        }
        for (col, field) in fields.iter().enumerate() {
            let v = parse_number(field).ok_or_else(|| {
                let what = if field.trim().is_empty() {
                    "is empty".to_string()
                } else {
                    format!("is `{}`, which is not a number", shorten(field.trim()))
                };
                // The header rule is the likely surprise when the first line fails.
                let first_line = first_row == Some((line_no, fields.len()));
                let note = if first_line && header_cols.is_none() {
                    " (a first line is skipped as a header only when none of its fields is \
                     a number)"
                } else {
                    ""
                };
                bad(format!(
                    "line {line_no}, column {}: the field {what}{note}",
                    col + 1
                ))
            })?;
            values.push(v);
        }
        rows += 1;
    }
    // An input without data gives an empty array, as `np.loadtxt` does (it warns); when a
    // header named the columns, their number is kept rather than NumPy's placeholder 1.
    let cols = first_row.map_or(header_cols.unwrap_or(1), |(_, c)| c);
    Array::from_f64(vec![rows, cols], values).map_err(|e| bad(format!("internal: {e}")))
}

fn bad(message: impl Into<String>) -> IoError {
    IoError::new(IoErrorKind::BadCsv, message)
}

fn decode_text(bytes: &[u8]) -> Result<&str, IoError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        bad(format!(
            "the file is not UTF-8 text (invalid byte on line {line}); \
             is it a binary file such as a .npy?"
        ))
    })
}

/// A number as Python's `float()` reads it (which is what `np.loadtxt` uses): optional
/// surrounding whitespace, decimal or exponent notation, `nan`, `inf`, `infinity`.
fn parse_number(field: &str) -> Option<f64> {
    // Rust's float grammar matches Python's on everything a data file holds (Python
    // also allows `1_000`, which neither Rust nor `np.loadtxt` accepts).
    field.trim().parse::<f64>().ok()
}

/// Lines ended by `\n`, `\r\n` or a lone `\r`, as Python's universal newlines split them.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let s = rest?;
        match s.find(['\n', '\r']) {
            Some(i) => {
                let skip = if s[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&s[i + skip..]).filter(|r| !r.is_empty());
                Some(&s[..i])
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}
